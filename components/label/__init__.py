"""repotune.label: what the code means. Per-aspect interpretations, a conceptual explanation and labels for
every unit, bottom-up, from any OpenAI-compatible endpoint or the offline interpreter."""

from repotune.label.llm import LLMRequest, LLMResult, make_client
from repotune.label.step import label_units, run_step

__all__ = ["LLMRequest", "LLMResult", "label_units", "make_client", "run_step"]
