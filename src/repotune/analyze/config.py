"""Config of the analyze step. Every field carries a description: it becomes CLI help and commented YAML."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_VENDORED = ["vendor/**", "**/vendor/**", "node_modules/**", "**/node_modules/**", "third_party/**",
                    "**/third_party/**", ".git/**", "**/.git/**", "dist/**", "build/**", "**/*.min.js",
                    "**/__pycache__/**", ".venv/**", "**/site-packages/**"]


class AnalyzeConfig(BaseModel):
    """Static analysis of the source repository (tree-sitter + Ray Data)."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        "sample:tinyshop",
        description="What to analyze: a local directory, a git URL (https, ssh, git, file://; optionally '#<ref>') or "
        "a local bare repository, a .tar.gz/.zip, "
        "an object-store prefix ('store:<prefix>'), or a bundled sample ('sample:<name>').",
    )
    repository: str | None = Field(None, description="Repository name in the outputs; default: from the source.")
    vendored: list[str] = Field(DEFAULT_VENDORED, description="Globs of vendored or build paths to skip.")
    max_file_bytes: int = Field(1_000_000, ge=1, description="Files larger than this are skipped as oversized.")
    max_archive_bytes: int = Field(2_000_000_000, ge=1, description="Refuse archives that expand beyond this.")
    max_archive_files: int = Field(200_000, ge=1, description="Refuse archives with more entries than this.")
    context_tokens: int = Field(512, ge=0, description="Token budget of a function's assembled context.")
    near_duplicate_threshold: float = Field(0.9, ge=0.0, le=1.0,
                                            description="Jaccard similarity (MinHash LSH) above which units are near duplicates.")
    use_ray: bool | Literal["auto"] = Field(
        "auto", description="Parse files with Ray Data (true), in this process (false), or 'auto': Ray when "
        "ray.address names a cluster or the source is large enough for Ray's start-up to pay on this machine's "
        "CPUs (analyze.choose_ray); the summary says which and why.")
    workers: int | None = Field(None, ge=1, description="Ray Data parsing tasks in parallel; None: one per CPU.")
    batch_size: int = Field(32, ge=1, description="Files per Ray Data batch.")
