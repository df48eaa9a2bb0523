"""repotune.synthesize: instruction data from template queries over sampled domain tokens (second patent)."""

from repotune.synthesize.step import run_step, synthesize
from repotune.synthesize.templates import TemplateQuery, load_templates
from repotune.synthesize.tokens import DomainTokens

__all__ = ["DomainTokens", "TemplateQuery", "load_templates", "run_step", "synthesize"]
