"""Batched vs one-at-a-time greedy generation in evaluate: the same examples (a run's test split) answered with
batch sizes 1, 8 and 16 by the base model; answers compared, seconds and answers/s printed.

    .venv/bin/python bench/generation.py --store /tmp/repotune-quality --run quality-requests --examples 32

Needs a run whose dataset step has finished (bench/quality.py makes them). CPU unless a GPU is visible.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", default="/tmp/repotune-quality", help="Store folder of the run.")
    parser.add_argument("--run", default="quality-requests", help="Run id whose test split is answered.")
    parser.add_argument("--base-model", default="smollm2", help="Base model URI.")
    parser.add_argument("--examples", type=int, default=32, help="Examples answered.")
    parser.add_argument("--max-new-tokens", type=int, default=40, help="Tokens generated per answer.")
    parser.add_argument("--batch-sizes", default="1,8,16", help="Batch sizes compared (the first is the reference).")
    args = parser.parse_args()

    import torch

    from repotune.evaluate.generation import generate_answers
    from repotune.core.store import StoreConfig, open_store
    from repotune.models import load_base_model
    from repotune.contracts import read_jsonl

    store = open_store(StoreConfig(url=f"file://{args.store}"))
    examples = [ex for ex in read_jsonl(store.get_bytes(f"runs/{args.run}/dataset/test.jsonl"))
                if ex["task"] == "code2doc"][: args.examples]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, tokenizer = load_base_model(args.base_model, store, device=device)
    model.eval()
    print(f"{len(examples)} code2doc examples of {args.run}, {args.base_model} on {device}, "
          f"{torch.get_num_threads()} threads, max_new_tokens {args.max_new_tokens}")
    reference, first = None, None
    for size in [int(s) for s in args.batch_sizes.split(",")]:
        t0 = time.perf_counter()
        answers = generate_answers(model, tokenizer, examples, args.max_new_tokens, batch_size=size)
        seconds = time.perf_counter() - t0
        if reference is None:
            reference, first = answers, seconds
        same = sum(a == b for a, b in zip(answers, reference, strict=True))
        print(f"batch {size:>3}: {seconds:7.1f} s, {len(examples) / seconds:5.2f} answers/s, "
              f"{first / seconds:4.1f}x batch {args.batch_sizes.split(',')[0]}, identical answers {same}/{len(examples)}")
    print(json.dumps({"example_answer": reference[0] if reference else None}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
