"""Training throughput: repotune's recipe vs the usual recipe, same model, same length mix, same run.

    .venv/bin/python bench/train.py                  # CPU: small Qwen2 shape (hidden 256, 4 layers), 6 steps
    .venv/bin/python bench/train.py --steps 20 --shape qwen2-0.5b    # on a GPU machine

Length mix of ../shared/bench/lora_anchor.py: lognormal, median 300 tokens, cap 1024. LoRA r=16 on all linear
layers. Usual recipe: Hugging Face Trainer, padded batches of 16. Ours: repotune.train.data.pack + collate into
fixed token budgets with per-document attention (position_ids, attention_mask None, use_cache=False), the same
forward as repotune.train.loop. Each recipe runs in its own process (peak memory is per process). Useful tokens
are the documents' tokens (no padding). TFLOP/s use 6 x parameters x useful tokens; MFU needs a device peak.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time

SHAPES = {
    "small": {"hidden_size": 256, "intermediate_size": 704, "num_hidden_layers": 4, "num_attention_heads": 4,
              "num_key_value_heads": 2, "vocab_size": 8192},
    "qwen2-0.5b": {"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
                   "num_key_value_heads": 2, "vocab_size": 151936},
}
PEAK_TFLOPS = {"cuda": 989.0}  # H100 SXM bf16 dense; CPU has no meaningful published peak here


def lengths(n: int, seed: int = 0) -> list[int]:
    import torch

    torch.manual_seed(seed)  # both recipes' processes draw the same mix
    return [int(min(1024, max(32, x))) for x in torch.distributions.LogNormal(math.log(300), 0.6).sample((n,)).tolist()]


def build(shape: str, device: str):
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    from repotune.train.config import TrainConfig
    from repotune.train.model_setup import lora_model

    torch.manual_seed(0)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    base = AutoModelForCausalLM.from_config(Qwen2Config(**SHAPES[shape], max_position_embeddings=4096),
                                            attn_implementation="sdpa", dtype=dtype).to(device)
    n_params = sum(p.numel() for p in base.parameters())
    return lora_model(base, TrainConfig(lora_r=16, lora_alpha=32, lora_dropout=0.0)), n_params


def run_ours(lens: list[int], shape: str, device: str, budget: int, vocab: int) -> dict:
    import torch

    from repotune.train.data import Document, collate, pack

    model, n_params = build(shape, device)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    g = torch.Generator().manual_seed(1)
    docs = [Document(ids := torch.randint(10, vocab, (n,), generator=g).tolist(), list(ids)) for n in lens]
    rows = pack(docs, budget)
    useful, t0 = 0, time.perf_counter()
    for row in rows:  # one packed row per step: the same tokens as the usual recipe's batches
        batch = {k: v.to(device) for k, v in collate([row], 0).items()}
        model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], labels=batch["labels"],
              use_cache=False).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        useful += len(row.input_ids)
    if device == "cuda":
        torch.cuda.synchronize()
    return {"recipe": f"repotune packed (budget {budget})", "useful_tokens": useful,
            "seconds": time.perf_counter() - t0, "params": n_params}


def run_usual(lens: list[int], shape: str, device: str, batch: int, vocab: int) -> dict:
    import torch
    from transformers import Trainer, TrainingArguments

    model, n_params = build(shape, device)
    g = torch.Generator().manual_seed(1)
    rows = [{"input_ids": torch.randint(10, vocab, (n,), generator=g).tolist()} for n in lens]

    def pad(features):
        width = max(len(f["input_ids"]) for f in features)
        ids = [f["input_ids"] + [0] * (width - len(f["input_ids"])) for f in features]
        mask = [[1] * len(f["input_ids"]) + [0] * (width - len(f["input_ids"])) for f in features]
        labels = [f["input_ids"] + [-100] * (width - len(f["input_ids"])) for f in features]
        return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask), "labels": torch.tensor(labels)}

    args = TrainingArguments(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=batch,
                             max_steps=math.ceil(len(lens) / batch), logging_steps=10_000, save_strategy="no",
                             report_to=[], use_cpu=device == "cpu", bf16=device == "cuda", dataloader_num_workers=0)
    trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=pad)
    t0 = time.perf_counter()
    trainer.train()
    return {"recipe": f"usual: HF Trainer, padded batches of {batch}", "useful_tokens": sum(lens),
            "seconds": time.perf_counter() - t0, "params": n_params}


def child(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    lens = lengths(args.steps * args.batch)
    vocab = SHAPES[args.shape]["vocab_size"]
    result = (run_ours(lens, args.shape, device, args.budget, vocab) if args.recipe == "ours"
              else run_usual(lens, args.shape, device, args.batch, vocab))
    tokens_per_s = result["useful_tokens"] / result["seconds"]
    tflops = 6 * result["params"] * tokens_per_s / 1e12
    peak = PEAK_TFLOPS.get(device)
    memory = (torch.cuda.max_memory_allocated() / 2**30 if device == "cuda"
              else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
    print(json.dumps({**result, "device": device, "useful_tokens_per_s": round(tokens_per_s, 1),
                      "tflops": round(tflops, 4), "mfu": round(tflops / peak, 4) if peak else None,
                      "peak_memory_gib": round(memory, 2),
                      "memory_kind": "GPU max allocated" if device == "cuda" else "process max RSS"}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=6, help="batches of the usual recipe (x16 documents)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--budget", type=int, default=1024, help="tokens per packed row")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="small")
    parser.add_argument("--recipe", choices=["ours", "usual"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.recipe:
        return child(args)
    results = {}
    for recipe in ("usual", "ours"):
        out = subprocess.run([sys.executable, __file__, "--recipe", recipe, "--steps", str(args.steps), "--batch",
                              str(args.batch), "--budget", str(args.budget), "--shape", args.shape],
                             capture_output=True, text=True, check=True)
        results[recipe] = json.loads(out.stdout.strip().splitlines()[-1])
        r = results[recipe]
        print(f"{r['recipe']:<42} {r['useful_tokens_per_s']:>9.1f} useful tok/s  {r['tflops']:.4f} TFLOP/s  "
              f"MFU {r['mfu'] if r['mfu'] is not None else 'n/a (no device peak)'}  peak {r['peak_memory_gib']} GiB "
              f"({r['memory_kind']}, {r['device']})")
    print(f"ratio ours/usual: {results['ours']['useful_tokens_per_s'] / results['usual']['useful_tokens_per_s']:.2f}x")


if __name__ == "__main__":
    main()
