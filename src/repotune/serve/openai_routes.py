"""OpenAI-compatible /openai/v1 routes on kserve's FastAPI app (kserve's own OpenAI classes need vllm)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from kserve.errors import InvalidInput

from repotune.serve.predictor import RepotunePredictor


def usage(result: dict[str, Any]) -> dict[str, int]:
    return {"prompt_tokens": result["prompt_tokens"], "completion_tokens": result["completion_tokens"],
            "total_tokens": result["prompt_tokens"] + result["completion_tokens"]}


def register_openai_routes(app: FastAPI, predictor: RepotunePredictor) -> None:
    async def body_of(request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            raise InvalidInput("the request body is not JSON") from None
        if not isinstance(body, dict):
            raise InvalidInput("the request body must be a JSON object")
        return body

    def stream(prompt: str, body: dict[str, Any], chat: bool) -> StreamingResponse:
        from transformers import TextIteratorStreamer

        streamer = TextIteratorStreamer(predictor.tokenizer, skip_prompt=True, skip_special_tokens=True)
        predictor._check(body.get("model"), len(predictor.tokenizer(prompt).input_ids), int(body.get("max_tokens", 64)))
        thread = threading.Thread(target=predictor.generate, args=(prompt, body.get("model"),
                                                                   int(body.get("max_tokens", 64)),
                                                                   float(body.get("temperature") or 0.0), streamer))
        thread.start()
        rid = f"cmpl-{uuid.uuid4().hex[:12]}"

        async def events():
            for piece in streamer:
                delta = {"delta": {"content": piece}} if chat else {"text": piece}
                yield f"data: {json.dumps({'id': rid, 'object': 'chat.completion.chunk' if chat else 'text_completion', 'model': body.get('model'), 'choices': [{'index': 0, **delta, 'finish_reason': None}]})}\n\n"
                await asyncio.sleep(0)
            thread.join()
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def chat(request: Request) -> Any:
        body = await body_of(request)
        prompt = predictor.render_chat(body.get("messages"))
        if body.get("stream"):
            return stream(prompt, body, chat=True)
        r = await asyncio.to_thread(predictor.generate, prompt, body.get("model"), int(body.get("max_tokens", 64)),
                                    float(body.get("temperature") or 0.0))
        return JSONResponse({
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model") or predictor.cfg.name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": r["text"]}, "finish_reason": "stop"}],
            "usage": usage(r)})

    async def completions(request: Request) -> Any:
        body = await body_of(request)
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            raise InvalidInput('"prompt" must be a string')
        if body.get("stream"):
            return stream(prompt, body, chat=False)
        r = await asyncio.to_thread(predictor.generate, prompt, body.get("model"), int(body.get("max_tokens", 64)),
                                    float(body.get("temperature") or 0.0))
        return JSONResponse({
            "id": f"cmpl-{uuid.uuid4().hex[:12]}", "object": "text_completion", "created": int(time.time()),
            "model": body.get("model") or predictor.cfg.name,
            "choices": [{"index": 0, "text": r["text"], "finish_reason": "stop"}], "usage": usage(r)})

    async def models(request: Request) -> Any:
        return JSONResponse({"object": "list", "data": [{"id": n, "object": "model"} for n in predictor.model_names]})

    app.add_api_route("/openai/v1/chat/completions", chat, methods=["POST"])
    app.add_api_route("/openai/v1/completions", completions, methods=["POST"])
    app.add_api_route("/openai/v1/models", models, methods=["GET"])
