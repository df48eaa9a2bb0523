"""The run config: one pydantic model, loaded from YAML (a file or a shipped preset) plus key=value overrides.

    repotune run --config my-run.yaml train.max_steps=20 llm.base_url=http://vllm:8000/v1
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from repotune.analyze.config import AnalyzeConfig
from repotune.dataset.config import DatasetConfig
from repotune.deploy.config import DeployConfig
from repotune.core.errors import ConfigError
from repotune.evaluate.config import EvaluateConfig
from repotune.label.config import LabelConfig
from repotune.llm.config import LLMEndpointConfig
from repotune.core.ray_setup import RayConfig
from repotune.serve.config import ServeConfig
from repotune.core.store import StoreConfig
from repotune.synthesize.config import SynthesizeConfig
from repotune.train.config import TrainConfig


class RunConfig(BaseModel):
    """A whole repotune run: the store, Ray, and one section per step."""

    model_config = ConfigDict(extra="forbid")

    run_id: str = Field("local", description="Name of the run; outputs go under runs/<run_id>/ in the store.")
    store: StoreConfig = Field(default_factory=StoreConfig, description="The object store.")
    ray: RayConfig = Field(default_factory=RayConfig, description="Ray connection.")
    analyze: AnalyzeConfig = Field(default_factory=AnalyzeConfig, description="The analyze step.")
    llm: LLMEndpointConfig = Field(default_factory=LLMEndpointConfig, description="The OpenAI-compatible "
                                   "endpoint label (backend openai) and synthesize (generation llm, judge) call.")
    label: LabelConfig = Field(default_factory=LabelConfig, description="The label step.")
    synthesize: SynthesizeConfig = Field(default_factory=SynthesizeConfig, description="The synthesize step.")
    dataset: DatasetConfig = Field(default_factory=DatasetConfig, description="The dataset step.")
    train: TrainConfig = Field(default_factory=TrainConfig, description="The train step.")
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig, description="The evaluate step.")
    serve: ServeConfig = Field(default_factory=ServeConfig, description="The predictor (local serve and KServe).")
    deploy: DeployConfig = Field(default_factory=DeployConfig, description="The deploy step.")

    def section_hash(self, *sections: str) -> str:
        """Stable hash of some sections of the config (what decides whether a step must rerun)."""
        doc = {name: getattr(self, name).model_dump(mode="json") for name in sections}
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


PRESETS_PACKAGE = "repotune.presets"


def list_presets() -> list[str]:
    return sorted(p.name.removesuffix(".yaml") for p in resources.files(PRESETS_PACKAGE).iterdir()
                  if p.name.endswith(".yaml"))


def _read_yaml(text: str, where: str) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{where}: invalid YAML: {e}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: the run config must be a mapping, got {type(doc).__name__}")
    return doc


def _parse_value(raw: str) -> Any:
    """A key=value override's value, read as YAML so numbers, booleans, lists and null work."""
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def apply_override(doc: dict[str, Any], override: str) -> None:
    key, sep, raw = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {override!r}: expected key=value, e.g. train.max_steps=20")
    node = doc
    parts = key.strip().split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {override!r}: {part!r} is not a section")
        node = child
    node[parts[-1]] = _parse_value(raw)


def _describe(error: ValidationError, doc: dict[str, Any]) -> str:
    """One line per problem: the field, the bad value, and what is allowed."""
    lines = []
    for err in error.errors():
        loc = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"{loc}: unknown key (check the spelling; `repotune run --help` lists the fields)")
            continue
        value = err.get("input")
        shown = "" if isinstance(value, dict) else f" = {value!r}"
        lines.append(f"{loc}{shown}: {err['msg']}")
    return "invalid run config: " + "; ".join(lines)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                preset: str | None = None) -> RunConfig:
    """Build the run config: defaults < preset < YAML file < key=value overrides."""
    doc: dict[str, Any] = {}
    if preset:
        if preset not in list_presets():
            raise ConfigError(f"unknown preset {preset!r}; shipped presets: {', '.join(list_presets())}")
        text = resources.files(PRESETS_PACKAGE).joinpath(f"{preset}.yaml").read_text()
        doc = _read_yaml(text, f"preset {preset}")
    if path:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {p} does not exist")
        _deep_merge(doc, _read_yaml(p.read_text(), str(p)))
    return _validated(doc, overrides)


def load_config_text(text: str, overrides: list[str] | None = None, where: str = "run config") -> RunConfig:
    """The run config from YAML text (a pipeline parameter, an environment variable) plus overrides."""
    return _validated(_read_yaml(text, where), overrides)


def _validated(doc: dict[str, Any], overrides: list[str] | None) -> RunConfig:
    for override in overrides or []:
        apply_override(doc, override)
    try:
        return RunConfig.model_validate(doc)
    except ValidationError as e:
        raise ConfigError(_describe(e, doc)) from None


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value


def field_docs(model: type[BaseModel] = RunConfig, prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted name, default, description) for every leaf field: CLI help and commented YAML."""
    rows = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        dotted = f"{prefix}{name}"
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.extend(field_docs(annotation, dotted + "."))
        else:
            default = field.get_default(call_default_factory=True)
            rows.append((dotted, json.dumps(default, default=str), field.description or ""))
    return rows


def commented_yaml(config: RunConfig) -> str:
    """The config as YAML with each field's description as a comment above it."""
    docs = {dotted: desc for dotted, _, desc in field_docs()}
    out: list[str] = []

    def emit(node: dict[str, Any], prefix: str, indent: int) -> None:
        for key, value in node.items():
            dotted = f"{prefix}{key}"
            pad = "  " * indent
            if dotted in docs and docs[dotted]:
                out.append(f"{pad}# {docs[dotted]}")
            if isinstance(value, dict) and value:
                out.append(f"{pad}{key}:")
                emit(value, dotted + ".", indent + 1)
            else:
                dumped = yaml.safe_dump({key: value}, default_flow_style=True, width=10_000).strip()
                out.append(f"{pad}{dumped[1:-1] if dumped.startswith('{') else dumped}")

    emit(config.model_dump(mode="json"), "", 0)
    return "\n".join(out) + "\n"
