"""Adapters loaded and unloaded while serving, with vLLM's routes and bodies:

    POST /v1/load_lora_adapter    {"lora_name": "docs-v2", "lora_path": "store:runs/r7/train/adapter"}
    POST /v1/unload_lora_adapter  {"lora_name": "docs-v2"}

Only from the URI prefixes in `serve.adapter_prefixes` (the run store, an S3 prefix): a client cannot make the
server read an arbitrary folder or bucket. Behind `Authorization: Bearer <token>` when `serve.admin_token_env`
names a variable (a missing variable refuses every call rather than opening the routes).
"""

from __future__ import annotations

import hmac
import os
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from kserve.errors import InvalidInput
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from repotune.core.errors import RepotuneError
from repotune.serve.openai_routes import json_body, Refused, error_response
from repotune.serve.predictor import RepotunePredictor
from repotune.serve.schema import one_line

ADAPTER_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class LoadRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    lora_name: StrictStr = Field(pattern=ADAPTER_NAME)
    lora_path: StrictStr = Field(min_length=1, max_length=1024)


class UnloadRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    lora_name: StrictStr = Field(pattern=ADAPTER_NAME)


def allowed(uri: str, prefixes: list[str]) -> bool:
    """A URI under one of the prefixes, with no way back up out of it."""
    if "\\" in uri or any(part in ("..", ".") for part in re.split(r"[/:]", uri)):
        return False
    return any(uri.startswith(prefix) for prefix in prefixes)


def register_admin_routes(app: FastAPI, predictor: RepotunePredictor) -> None:
    cfg = predictor.cfg

    def refused(request: Request) -> JSONResponse | None:
        if not cfg.admin_token_env:
            return None
        token = os.environ.get(cfg.admin_token_env, "")
        given = request.headers.get("authorization", "")
        if not token or not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return error_response(401, "adapter administration needs the bearer token", "authentication_error")
        return None

    async def admitted(request: Request, schema: type[BaseModel]) -> Any:
        """The validated body, or the error response (no token, not JSON, bad fields)."""
        if (denied := refused(request)) is not None:
            return denied
        try:
            return schema.model_validate(await json_body(request))
        except Refused as e:
            return error_response(e.status, str(e))
        except ValidationError as e:
            return error_response(400, one_line(e))

    async def load(request: Request) -> Any:
        body = await admitted(request, LoadRequest)
        if isinstance(body, JSONResponse):
            return body
        if not allowed(body.lora_path, cfg.adapter_prefixes):
            return error_response(400, f"lora_path must start with one of {cfg.adapter_prefixes}")
        try:
            evicted = await predictor.load_adapter(body.lora_name, body.lora_path)
        except InvalidInput as e:
            return error_response(400, str(e))
        except RepotuneError as e:  # not found, not an adapter, not loadable: the client's path
            return error_response(400, str(e).splitlines()[0])
        note = f" (unloaded the least recently used: {', '.join(evicted)})" if evicted else ""
        return PlainTextResponse(f"Success: LoRA adapter '{body.lora_name}' added successfully.{note}")

    async def unload(request: Request) -> Any:
        body = await admitted(request, UnloadRequest)
        if isinstance(body, JSONResponse):
            return body
        try:
            await predictor.unload_adapter(body.lora_name)
        except KeyError:
            return error_response(404, f"no adapter named {body.lora_name!r} is loaded", "not_found_error")
        return PlainTextResponse(f"Success: LoRA adapter '{body.lora_name}' removed successfully.")

    app.add_api_route("/v1/load_lora_adapter", load, methods=["POST"])
    app.add_api_route("/v1/unload_lora_adapter", unload, methods=["POST"])
