"""label.backend=vllm: a level's prompts through vLLM on the Ray cluster's GPUs, as a ray.data.llm processor
(vLLMEngineProcessorConfig): the same system and user messages as the OpenAI-compatible backend, the answer held
to the LabelAnswer JSON schema by vLLM's structured outputs, then checked by the same pydantic model. For GPU
clusters where vllm is installed; the processor's construction needs only Ray."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from repotune.core.errors import StepError
from repotune.label.config import LabelConfig, VLLMConfig
from repotune.label.levels import schema_error, unit_request, unit_row
from repotune.label.schema import LabelAnswer, json_schema
from repotune.llm.config import LLMEndpointConfig


def processor_config(vllm: VLLMConfig) -> Any:
    """ray.data.llm's config of the vLLM stage: the model, its engine settings, batch size, GPU workers."""
    from ray.data.llm import vLLMEngineProcessorConfig

    return vLLMEngineProcessorConfig(
        model_source=vllm.model, batch_size=vllm.batch_size, concurrency=vllm.concurrency,
        accelerator_type=vllm.accelerator_type,
        engine_kwargs={"max_model_len": vllm.max_model_len, **vllm.engine_kwargs},
        should_continue_on_error=True)  # a failed row is one failed unit (counted), not a failed step


def preprocess(max_tokens: int, temperature: float) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Row -> the engine's input: the unit's chat messages and sampling settings with the schema as a constraint."""
    schema = json_schema()

    def make(row: dict[str, Any]) -> dict[str, Any]:
        return {"unit_id": row["unit_id"], "messages": json.loads(row["messages"]),
                "sampling_params": {"temperature": temperature, "max_tokens": max_tokens,
                                    "structured_outputs": {"json": schema}}}

    return make


def postprocess(row: dict[str, Any]) -> dict[str, Any]:
    return {"unit_id": row["unit_id"], "answer": row.get("generated_text") or "",
            "error": row.get("__inference_error__") or "",
            "prompt_tokens": int(row.get("num_input_tokens") or 0),
            "completion_tokens": int(row.get("num_generated_tokens") or 0)}


def build(cfg: LabelConfig, llm: LLMEndpointConfig) -> Any:
    from ray.data.llm import build_processor

    return build_processor(processor_config(cfg.vllm), preprocess=preprocess(llm.max_tokens, llm.temperature),
                           postprocess=postprocess)


def label_level_vllm(level: list[dict[str, Any]], kids: list[list[str]], cfg: LabelConfig, llm: LLMEndpointConfig,
                     advance: Callable[[int], None]) -> list[dict[str, Any]]:
    """The level's rows from vLLM; an answer that fails the schema is a failed unit with its reason."""
    import ray

    if cfg.mode != "single":
        raise StepError("label.backend=vllm runs label.mode=single (one structured request per unit)")
    items = [{"unit_id": u["unit_id"], "messages": json.dumps(unit_request(u, k, cfg).messages())}
             for u, k in zip(level, kids, strict=True)]
    answers = {a["unit_id"]: a for a in build(cfg, llm)(ray.data.from_items(items)).iter_rows()}
    rows = []
    for u in level:
        got = answers.get(u["unit_id"], {"answer": "", "error": "no answer came back"})
        answer, error = None, got["error"] or None
        if not error:
            try:
                answer = LabelAnswer.model_validate_json(got["answer"])
            except ValidationError as e:
                error = schema_error(e)
        row = unit_row(u, "llm", cfg.vllm.model, answer, None, error, llm)
        row.update(prompt_tokens=got.get("prompt_tokens", 0), completion_tokens=got.get("completion_tokens", 0),
                   requests=1)
        rows.append(row)
    advance(len(rows))
    return rows
