"""repotune.label: what the code means. Per-aspect interpretations, a conceptual explanation and labels for
every unit, bottom-up, from any OpenAI-compatible endpoint or the offline interpreter."""

from repotune.label.step import label_units, run_step

__all__ = ["label_units", "run_step"]
