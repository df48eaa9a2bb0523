"""OpenAI-compatible /openai/v1 routes on kserve's FastAPI app (kserve's own OpenAI classes need vllm).

Bodies are validated by `schema` before anything runs (400 with one line, OpenAI's error shape); a stream reads its
row's events from an asyncio queue filled by the generation thread, so it never blocks the event loop, and it
always ends: with a final chunk carrying the finish reason (and usage when asked), or with an error event, then
`[DONE]`.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from kserve.errors import InvalidInput
from pydantic import ValidationError

from repotune.serve.predictor import GenerationError, RepotunePredictor
from repotune.serve.schema import ChatRequest, CompletionRequest, one_line

MAX_BODY_BYTES = 4 * 1024 * 1024


def error_response(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": None}}, status_code=status)


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


async def json_body(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise Refused(415, f"the content type must be application/json, not {content_type or 'none'!r}")
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise Refused(413, f"the body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB")
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise Refused(400, "the body is not UTF-8") from None
    except (json.JSONDecodeError, RecursionError):
        raise Refused(400, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise Refused(400, "the body must be a JSON object")
    return body


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def register_openai_routes(app: FastAPI, predictor: RepotunePredictor) -> None:
    def stream(job: Any, model: str, chat: bool, include_usage: bool) -> StreamingResponse:
        rid = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:12]}"
        created = int(time.time())
        kind = "chat.completion.chunk" if chat else "text_completion"

        def chunk(choice: dict[str, Any] | None, **extra: Any) -> str:
            body = {"id": rid, "object": kind, "created": created, "model": model,
                    "choices": [choice] if choice else [], **extra}
            return f"data: {json.dumps(body)}\n\n"

        def piece(text: str | None, finish_reason: str | None, role: bool = False) -> dict[str, Any]:
            if chat:
                delta = {"role": "assistant", "content": ""} if role else ({"content": text} if text else {})
                return {"index": 0, "delta": delta, "finish_reason": finish_reason}
            return {"index": 0, "text": text or "", "finish_reason": finish_reason}

        events = predictor.batcher.submit(job)

        async def body():
            if chat:
                yield chunk(piece(None, None, role=True))
            while True:
                event = await events.get()
                text = ""
                while event[0] == "token":  # tokens that queued up while the client was served go as one chunk
                    text += event[1]
                    if events.empty():
                        break
                    event = events.get_nowait()
                if text:
                    yield chunk(piece(text, None))
                if event[0] == "token":
                    continue
                if event[0] == "done":
                    yield chunk(piece(None, event[1]))
                    if include_usage:
                        yield chunk(None, usage=usage(event[2], event[3]))
                    break
                yield f"data: {json.dumps({'error': {'message': event[1], 'type': 'server_error'}})}\n\n"
                break
            yield "data: [DONE]\n\n"

        return StreamingResponse(body(), media_type="text/event-stream")

    async def answer(request: Request, chat: bool) -> Any:
        try:
            body = await json_body(request)
            parsed = (ChatRequest if chat else CompletionRequest).model_validate(body)
            if chat:
                prompt = predictor.render_chat([{"role": m.role, "content": m.text()} for m in parsed.messages])
            else:
                prompt = parsed.prompt
            job = predictor.job(prompt, parsed.model, parsed.new_tokens(64), float(parsed.temperature or 0.0),
                                parsed.stop)
        except Refused as e:
            return error_response(e.status, str(e))
        except ValidationError as e:
            return error_response(400, one_line(e))
        except InvalidInput as e:
            return error_response(400, str(e))
        model = parsed.model or predictor.cfg.name
        if parsed.stream:
            include_usage = bool(parsed.stream_options and parsed.stream_options.include_usage)
            return stream(job, model, chat, include_usage)
        try:
            r = await predictor.run(job)
        except GenerationError as e:
            return error_response(500, str(e), "server_error")
        if chat:
            choice = {"index": 0, "message": {"role": "assistant", "content": r["text"]},
                      "finish_reason": r["finish_reason"]}
        else:
            choice = {"index": 0, "text": r["text"], "finish_reason": r["finish_reason"]}
        return JSONResponse({
            "id": f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion" if chat else "text_completion", "created": int(time.time()), "model": model,
            "choices": [choice], "usage": usage(r["prompt_tokens"], r["completion_tokens"])})

    async def chat(request: Request) -> Any:
        return await answer(request, chat=True)

    async def completions(request: Request) -> Any:
        return await answer(request, chat=False)

    async def models(request: Request) -> Any:
        created = int(time.time())
        return JSONResponse({"object": "list", "data": [
            {"id": n, "object": "model", "created": created, "owned_by": "repotune"} for n in predictor.model_names]})

    async def invalid_input(request: Request, error: InvalidInput) -> JSONResponse:
        # kserve's own handler logs the client's mistake with a traceback: one line is enough
        return JSONResponse({"error": str(error)}, status_code=400)

    app.add_exception_handler(InvalidInput, invalid_input)
    app.add_api_route("/openai/v1/chat/completions", chat, methods=["POST"])
    app.add_api_route("/openai/v1/completions", completions, methods=["POST"])
    app.add_api_route("/openai/v1/models", models, methods=["GET"])
