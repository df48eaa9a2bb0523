"""Config of the synthesize step. Every field carries a description: it becomes CLI help and commented YAML."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SynthesizeConfig(BaseModel):
    """Template-query generation of instruction/response pairs."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(0, description="Seed of the weighted token and template sampling (same seed, same pairs).")
    templates_dir: str | None = Field(None, description="A folder of extra or replacement template YAML files.")
    pairs_per_unit: int = Field(2, ge=1, description="Templates sampled per unit (by weight, without repeats).")
    max_code_chars: int = Field(4000, ge=200, description="Units with longer code skip the templates that show "
                                "their whole code (counted as code_too_long); code2doc shows their head.")
    prompt_code_chars: int = Field(2000, ge=200, description="Code shown in a prompt (code2doc's unit without "
                                   "its docstring) is cut at a line break before this many characters.")
    near_duplicate_threshold: float = Field(0.9, ge=0, le=1, description="MinHash Jaccard above which a pair "
                                            "duplicates an earlier one and fails its quality check.")
    learning_rate: float = Field(0.5, ge=0, le=1, description="How far template weights move toward their "
                                 "pass rate after a run (the patent's tuning loop).")
    generation: Literal["offline", "llm"] = Field(
        "offline", description="'offline': responses come straight from the code, docstrings and labels; 'llm': "
        "the llm section's endpoint (the client label uses: same cache and fault handling) writes the responses of "
        "templates marked `generate: true` and the docstrings units lack.")
    judge: bool = Field(False, description="Score every pair 1-5 with the llm section's endpoint (LLM judge); "
                        "a pair below judge_min_score, or one the judge could not score, fails quality.")
    judge_min_score: int = Field(3, ge=1, le=5, description="Lowest judge score that passes quality.")
