"""repotune.synthesize: instruction data from template queries over sampled domain tokens (second patent)."""

from repotune.synthesize.step import run_step, synthesize
from repotune.synthesize.templates import TemplateQuery, load_templates, templates_fingerprint
from repotune.synthesize.tokens import DomainTokens

__all__ = ["DomainTokens", "TemplateQuery", "fingerprint", "load_templates", "run_step", "synthesize"]


def fingerprint(config) -> str:  # noqa: ANN001 - the run's Config
    """What decides the step's pairs besides its config sections: the templates' text (StepSpec.code_fingerprint)."""
    return templates_fingerprint(config.synthesize.templates_dir)
