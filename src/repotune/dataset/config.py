"""Config of the dataset step. Every field carries a description: it becomes CLI help and commented YAML."""

from pydantic import BaseModel, ConfigDict, Field


class DatasetConfig(BaseModel):
    """Splits, dedup, decontamination and the dataset card."""

    model_config = ConfigDict(extra="forbid")

    val_fraction: float = Field(0.1, ge=0, lt=1, description="Share of files whose pairs go to validation.")
    val_min_headline: int = Field(20, ge=0, description="The val split takes more files (in hash order, after "
                                  "test's) until it holds min(val_fraction of the code2doc examples, this many): "
                                  "the adapter train keeps and a sweep's winner are chosen on its loss.")
    test_fraction: float = Field(0.1, ge=0, lt=1, description="Share of files whose pairs go to test.")
    test_min_share: float = Field(0.2, ge=0, le=0.5, description="The test split takes more files (in hash "
                                  "order) until it holds this share of the code2doc examples (the headline task) …")
    test_min_headline: int = Field(50, ge=0, description="… or this many of them, whichever is smaller; train "
                                   "always keeps at least one file.")
    seed: int = Field(0, description="Salt of the file-to-split hash (same seed, same splits).")
    include_test_files: bool = Field(True, description="Keep pairs built from the repository's own test files.")
    only_quality_ok: bool = Field(True, description="Drop pairs that failed their quality checks (counted).")
    tokenizer: str | None = Field(None, description="Base-model URI whose tokenizer measures lengths; None: "
                                  "about four characters per token (the card says which).")
    max_tokens: int = Field(2048, ge=32, description="Pairs longer than this (prompt + answer) are dropped.")
    system_prompt: str = Field("You are a coding assistant that knows this repository's code, domain and style.",
                               description="The system message of every example.")
