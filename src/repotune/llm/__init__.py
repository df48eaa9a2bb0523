"""The OpenAI-compatible client shared by label and synthesize: rate limits, retries, a circuit breaker, an
answer cache in the store, and a local test server that speaks the same protocol."""
