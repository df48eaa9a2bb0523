"""The dataset step: synthetic pairs → train/val/test chat JSONL and a card."""

from __future__ import annotations

import json

from repotune.dataset.build import SPLITS, build
from repotune.dataset.card import card_figures, card_markdown, plots
from repotune.core.errors import StepError
from repotune.core.step import StepContext, StepResult
from repotune.core.store import get_json, put_json, read_table


def run_step(ctx: StepContext) -> StepResult:
    cfg = ctx.config.dataset
    pairs = read_table(ctx.store, ctx.input_key("synthesize", "synthetic.parquet")).to_pylist()
    units = {u["unit_id"]: u for u in read_table(ctx.store, ctx.input_key("analyze", "units.parquet")).to_pylist()}
    labels = read_table(ctx.store, ctx.input_key("label", "labels.parquet")).to_pylist()
    count_tokens = None
    if cfg.tokenizer:
        from transformers import AutoTokenizer

        from repotune.models import resolve_base_model

        tokenizer = AutoTokenizer.from_pretrained(resolve_base_model(cfg.tokenizer, ctx.store))
        count_tokens = lambda text: len(tokenizer(text).input_ids)  # noqa: E731
    built = build(pairs, units, cfg, count_tokens)
    empty = [s for s in SPLITS if not built.splits[s] and (s == "train" or getattr(cfg, f"{s}_fraction") > 0)]
    if empty:
        raise StepError(f"dataset: the {', '.join(empty)} split(s) came out empty ({sum(len(v) for v in built.splits.values())} "
                        f"examples kept, dropped {dict(built.dropped)}); a larger repository or other fractions are needed")
    for split, examples in built.splits.items():
        lines = [json.dumps({k: v for k, v in ex.items() if k not in ("tokens", "content_hash")}) for ex in examples]
        ctx.store.put_bytes(ctx.key(f"{split}.jsonl"), ("\n".join(lines) + "\n").encode() if lines else b"")
    synth = get_json(ctx.store, ctx.input_key("synthesize", "synthesize.json"))
    analysis = get_json(ctx.store, ctx.input_key("analyze", "analyze.json"))
    figures = card_figures(built, labels, synth, analysis)
    repository = next(iter(units.values()))["repository"]
    for key, png in plots(figures, [ex["tokens"] for exs in built.splits.values() for ex in exs]).items():
        ctx.store.put_bytes(ctx.key(key), png)
    put_json(ctx.store, ctx.key("card.json"), figures)
    ctx.store.put_bytes(ctx.key("card.md"), card_markdown(figures, repository).encode())
    return StepResult(
        outputs={**{s: ctx.key(f"{s}.jsonl") for s in SPLITS}, "card": ctx.key("card.md"),
                 "card_json": ctx.key("card.json"), "plots": ctx.key("plots/")},
        counts={**{f"examples.{s}": n for s, n in figures["examples"].items()},
                **{f"dropped.{k}": v for k, v in built.dropped.items()}},
        summary=f"  examples: {figures['examples']}; dropped: {dict(built.dropped) or 'none'}; "
                f"card: {ctx.key('card.md')}")
