"""What a label is: the structured answer asked of the LLM for each unit, validated with pydantic."""

from __future__ import annotations

import functools

from pydantic import BaseModel, ConfigDict, Field

from repotune.contracts import ASPECTS

ASPECT_NAMES = [a for group in ASPECTS.values() for a in group]  # the 14 aspects, in patent order


class Explanation(BaseModel):
    model_config = ConfigDict(extra="ignore")

    level: str = Field(description="LLD for functions, methods and classes; HLD for files, directories, repository.")
    abstract: str = Field(description="Two or three sentences: what the unit is for, in the domain's words.")
    paraphrase: str = Field(description="How it works, step by step, in plain language.")


class Labels(BaseModel):
    model_config = ConfigDict(extra="ignore")

    domain: str = Field(description="The business or technical domain, e.g. 'e-commerce checkout'.")
    context: str = Field(description="Where the unit sits in the program and what depends on it.")
    tags: list[str] = Field(description="3 to 8 short metadata tags.")
    title: str = Field(description="A short title.")
    description: str = Field(description="One line.")


class LabelAnswer(BaseModel):
    """The answer for one unit."""

    model_config = ConfigDict(extra="ignore")

    interpretations: dict[str, str] = Field(description="Aspect name -> interpretation, for the aspects that apply.")
    combined_interpretation: str = Field(description="The aspects collated into one account.")
    explanation: Explanation
    labels: Labels


@functools.lru_cache(maxsize=1)
def json_schema() -> dict:
    return LabelAnswer.model_json_schema()
