"""The evaluate step: base vs adapter on held-out examples — smoothed BLEU-4 (CodeXGLUE) for text answers, exact
match and parse rate for code answers — and a gate that stops the pipeline before deploy."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from typing import Any

from repotune.errors import GateFailed, StepError
from repotune.evaluate.bleu import corpus_bleu
from repotune.steps import StepContext, StepResult
from repotune.store import get_dir, put_json
from repotune.train.data import read_jsonl

TEXT_TASKS = ("code2doc", "code2tags", "repo_qa")


def generate_answers(model: Any, tokenizer: Any, examples: list[dict[str, Any]], max_new_tokens: int) -> list[str]:
    import torch

    tokenizer.padding_side = "left"
    out = []
    for ex in examples:
        prompt = tokenizer.apply_chat_template(ex["messages"][:-1], tokenize=False, add_generation_prompt=True)
        batch = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(model.device)
        with torch.no_grad():
            ids = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
        out.append(tokenizer.decode(ids[0, batch["input_ids"].shape[1]:], skip_special_tokens=True).strip())
    return out


def score(examples: list[dict[str, Any]], answers: list[str]) -> dict[str, Any]:
    from repotune.synthesize.quality import parses

    by_task: dict[str, dict[str, list]] = defaultdict(lambda: {"refs": [], "hyps": [], "langs": []})
    for ex, answer in zip(examples, answers, strict=True):
        slot = by_task[ex["task"]]
        slot["refs"].append([ex["messages"][-1]["content"]])
        slot["hyps"].append(answer)
        slot["langs"].append(ex.get("language"))
    result: dict[str, Any] = {}
    for task, slot in by_task.items():
        if task in TEXT_TASKS:
            result[task] = {"n": len(slot["hyps"]), "bleu4": round(corpus_bleu(slot["refs"], slot["hyps"]), 3)}
        else:
            exact = sum(h.strip() == r[0].strip() for h, r in zip(slot["hyps"], slot["refs"], strict=True))
            parsed = [parses(h, lang) for h, lang in zip(slot["hyps"], slot["langs"], strict=True)]
            known = [p for p in parsed if p is not None]
            result[task] = {"n": len(slot["hyps"]), "exact_match": round(exact / len(slot["hyps"]), 3),
                            "parse_rate": round(sum(known) / len(known), 3) if known else None,
                            "bleu4": round(corpus_bleu(slot["refs"], slot["hyps"]), 3)}
    text = [(ex, a) for ex, a in zip(examples, answers, strict=True) if ex["task"] in TEXT_TASKS]
    result["text_bleu4"] = round(corpus_bleu([[ex["messages"][-1]["content"]] for ex, _ in text],
                                             [a for _, a in text]), 3) if text else 0.0
    return result


def answer_both(examples: list[dict[str, Any]], base_model: str, store_config: Any, adapter_key: str,
                max_new_tokens: int) -> tuple[list[str], list[str]]:
    """(base answers, adapter answers): one model load, the adapter switched off for the base's answers."""
    import torch
    from peft import PeftModel

    from repotune.store import open_store
    from repotune.train.base_model import load_base_model

    store = open_store(store_config)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    base, tokenizer = load_base_model(base_model, store, device=device)
    with tempfile.TemporaryDirectory() as adapter_dir:
        get_dir(store, adapter_key, adapter_dir)
        model = PeftModel.from_pretrained(base, adapter_dir).eval()
        tuned = generate_answers(model, tokenizer, examples, max_new_tokens)
        with model.disable_adapter():
            plain = generate_answers(model, tokenizer, examples, max_new_tokens)
    return plain, tuned


def answer_on_ray(examples: list[dict[str, Any]], args: tuple, cfg: Any,
                  address: str | None) -> tuple[list[str], list[str]]:
    """The examples dealt round-robin to num_workers Ray tasks; answers put back in the examples' order."""
    import ray

    from repotune.store_s3 import ray_runtime_env

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False,
                 runtime_env=ray_runtime_env())
    task = ray.remote(answer_both).options(num_cpus=cfg.cpus_per_worker, num_gpus=cfg.gpus_per_worker)
    n = min(cfg.num_workers, len(examples))
    shards = ray.get([task.remote(examples[i::n], *args) for i in range(n)])
    plain, tuned = [""] * len(examples), [""] * len(examples)
    for i, (shard_plain, shard_tuned) in enumerate(shards):
        plain[i::n], tuned[i::n] = shard_plain, shard_tuned
    return plain, tuned


def run_step(ctx: StepContext) -> StepResult:
    cfg = ctx.config.evaluate
    examples = read_jsonl(ctx.store.get_bytes(ctx.input_key("dataset", "test.jsonl")))[: cfg.max_examples]
    if not examples:
        raise StepError("evaluate: the test split is empty")
    args = (ctx.config.train.base_model, ctx.config.store, ctx.input_key("train", "adapter"), cfg.max_new_tokens)
    if cfg.num_workers > 1:
        plain, tuned = answer_on_ray(examples, args, cfg, ctx.config.ray.address)
    else:
        plain, tuned = answer_both(examples, *args)
    base_scores, adapter_scores = score(examples, plain), score(examples, tuned)
    improvement = round(adapter_scores["text_bleu4"] - base_scores["text_bleu4"], 3)
    passed = cfg.min_improvement is None or improvement >= cfg.min_improvement
    report = {"bleu4": {"base": base_scores["text_bleu4"], "adapter": adapter_scores["text_bleu4"]},
              "improvement": improvement, "min_improvement": cfg.min_improvement, "passed": passed,
              "n": len(examples), "tasks": {"base": base_scores, "adapter": adapter_scores},
              "metric": "smoothed BLEU-4 (CodeXGLUE code-to-text) over text-answer tasks, x100",
              "samples": [{"task": ex["task"], "reference": ex["messages"][-1]["content"][:300], "base": b[:300],
                           "adapter": a[:300]} for ex, b, a in list(zip(examples, plain, tuned, strict=True))[:5]]}
    put_json(ctx.store, ctx.key("eval.json"), report)
    rows = "\n".join(f"| {task} | {base_scores[task].get('bleu4')} | {adapter_scores[task].get('bleu4')} | "
                     f"{base_scores[task]['n']} |" for task in sorted(k for k in base_scores if k != "text_bleu4"))
    ctx.store.put_bytes(ctx.key("eval.md"), (
        f"# Evaluation\n\n| task | BLEU-4 base | BLEU-4 adapter | n |\n| --- | ---: | ---: | ---: |\n{rows}\n\n"
        f"Text tasks: base {base_scores['text_bleu4']}, adapter {adapter_scores['text_bleu4']} "
        f"(improvement {improvement}; gate {'passed' if passed else 'FAILED'}).\n").encode())
    if not passed:
        raise GateFailed(f"evaluation gate: BLEU-4 improvement {improvement} < evaluate.min_improvement "
                         f"{cfg.min_improvement}; not deploying (see {ctx.key('eval.json')})")
    return StepResult(outputs={"eval": ctx.key("eval.json"), "report": ctx.key("eval.md")},
                      counts={"examples": len(examples)},
                      metrics={"bleu4_base": base_scores["text_bleu4"], "bleu4_adapter": adapter_scores["text_bleu4"],
                               "improvement": improvement},
                      summary=f"  BLEU-4 base {base_scores['text_bleu4']} → adapter {adapter_scores['text_bleu4']} "
                              f"({improvement:+}); gate {'passed' if passed else 'failed'}")
