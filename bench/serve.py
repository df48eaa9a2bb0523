"""Serving overhead: the repotune predictor over HTTP vs bare transformers `generate`, same model, same adapter,
same prompts, same run; and the cost of switching adapters between requests.

    .venv/bin/python bench/serve.py                           # CPU: Qwen2 shape hidden 512, 8 layers, random
    .venv/bin/python bench/serve.py --prompts 20 --new-tokens 128 --routes completions,v1,chat
    .venv/bin/python bench/serve.py --hidden 896 --layers 24 --device cuda --json bench/results/serve.json

The model is a random Qwen2 of the given shape with the `tiny` model's tokenizer and two random LoRA adapters
(docs, tags; r=16 on all linear layers, unmerged, as the predictor serves them). Its generation_config sets
min_new_tokens = max_new_tokens, so both sides decode greedily exactly --new-tokens tokens (checked per request).

Bare: its own process loads the model as the predictor does (load_base_model, PeftModel with both adapters,
adapter `docs` set once) and times tokenize -> generate -> decode. HTTP: `python -m repotune.serve` in its own
process on 127.0.0.1, one keep-alive client, sequential requests, timed around the POST. The two processes take
turns prompt by prompt (only one computes at a time), so machine drift hits both sides alike. Per prompt:

    bare docs | v1 docs | completions docs (same) | [chat docs] | completions tags | completions docs (switch)

(odd prompts run the switch pair before the `same` request, to balance order). Overhead = HTTP p50 / bare p50 - 1
per route, target <= 5%. Switch cost = completions docs right after a `tags` request minus completions docs right
after a `docs` request, same prompt (median of the pairs).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 0.05


def cpu_busy_s() -> float:
    """Busy CPU seconds of the whole machine so far (all processes, all cores), from /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except OSError:
        return float("nan")
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    import resource

    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                  resource.getrusage(resource.RUSAGE_CHILDREN)))


def build_model(folder: Path, hidden: int, layers: int, intermediate: int, new_tokens: int) -> dict:
    """A random Qwen2 of the given shape with the tiny model's tokenizer, and two LoRA adapters."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from repotune.models import _save_model, resolve_base_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_base_model("tiny"))
    torch.manual_seed(0)
    config = Qwen2Config(hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
                         num_attention_heads=max(hidden // 64, 1), num_key_value_heads=max(hidden // 256, 1),
                         vocab_size=len(tokenizer), max_position_embeddings=4096, tie_word_embeddings=True,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None)
    model = Qwen2ForCausalLM(config)
    with torch.no_grad():  # tokens that decode to no text (special, or a piece of a UTF-8 character) are never
        # chosen: a random model would otherwise stream nothing for a while, and time to first token would measure that
        silent = [i for i in range(len(tokenizer))
                  if i in tokenizer.all_special_ids or "\ufffd" in tokenizer.decode([i]) or not tokenizer.decode([i])]
        model.get_input_embeddings().weight[silent] = 0.0  # tied: their logits are 0, below the best of the rest
    # a fixed number of new tokens on both sides: the random model may emit EOS at any step otherwise
    model.generation_config.min_new_tokens = new_tokens
    _save_model(model, folder / "base")
    tokenizer.save_pretrained(folder / "base")
    for seed, name in ((1, "docs"), (2, "tags")):
        peft_model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear",
                                                      task_type="CAUSAL_LM"))
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for param_name, param in peft_model.named_parameters():
                if "lora_B" in param_name:  # non-zero B: the adapters change the output
                    param.copy_(torch.randn(param.shape, generator=generator) * 0.05)
        peft_model.save_pretrained(folder / name)
        model = peft_model.unload()  # back to the plain base for the next adapter
    return {"params": sum(p.numel() for p in model.parameters()), "vocab": len(tokenizer)}


def make_prompts(folder: Path, count: int, tokens: int) -> list[str]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder / "base")
    text = "".join(f"def handler_{i}(request, store):\n    item = store.get(request.id)\n    return item\n\n"
                   for i in range(40 + count * tokens // 10))
    ids = tokenizer(text)["input_ids"]
    return [tokenizer.decode(ids[i * 7:i * 7 + tokens]) for i in range(count)]


# --- the bare side: its own process, driven over stdin/stdout (one JSON line per request) -------------------------

def bare_worker(folder: Path, device: str) -> None:
    import torch
    from peft import PeftModel

    from repotune.models import load_base_model

    out = sys.stdout
    sys.stdout = sys.stderr  # library prints must not mix with the replies
    if os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    base, tokenizer = load_base_model(str(folder / "base"), device=device)
    model = PeftModel.from_pretrained(base, str(folder / "docs"), adapter_name="docs")
    model.load_adapter(str(folder / "tags"), adapter_name="tags")
    model.set_adapter("docs")
    model.eval()
    out.write(json.dumps({"ready": True, "dtype": str(base.dtype), "device": str(base.device),
                          "threads": torch.get_num_threads()}) + "\n")
    out.flush()

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "gen":
            t0 = time.perf_counter()
            prompt = cmd["prompt"]
            if cmd.get("chat"):  # what the chat route does: render the template, then the same generate
                prompt = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                                       add_generation_prompt=True)
            ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(device)
            with torch.no_grad():
                generated = model.generate(**ids, max_new_tokens=cmd["new_tokens"], do_sample=False,
                                           pad_token_id=tokenizer.pad_token_id)
            new = generated[0, ids["input_ids"].shape[1]:]
            tokenizer.decode(new, skip_special_tokens=True)
            sync()
            reply = {"seconds": time.perf_counter() - t0, "tokens": int(new.shape[0]),
                     "prompt_tokens": int(ids["input_ids"].shape[1])}
        elif cmd["op"] == "set_adapter":  # what one adapter switch costs in process
            n, same, other = cmd["n"], [], []
            for _ in range(n):
                t0 = time.perf_counter()
                model.set_adapter("docs")  # already active
                same.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                model.set_adapter("tags")
                model.set_adapter("docs")
                other.append((time.perf_counter() - t0) / 2)
            reply = {"same_ms": 1000 * statistics.median(same), "switch_ms": 1000 * statistics.median(other)}
        else:
            break
        out.write(json.dumps(reply) + "\n")
        out.flush()


class Bare:
    def __init__(self, folder: Path, device: str, log: Path):
        self.log = open(log, "w")
        self.proc = subprocess.Popen([sys.executable, __file__, "--worker", str(folder), "--device", device],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.info = self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.log.flush()
            raise SystemExit(f"the bare worker exited: {Path(self.log.name).read_text()[-2000:]}")
        return json.loads(line)

    def call(self, **cmd) -> dict:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write(json.dumps({"op": "exit"}) + "\n")
            self.proc.stdin.close()
            self.proc.wait(30)
        self.log.close()


# --- the HTTP side: the predictor as the tests start it ------------------------------------------------------------

def predictor_has_device_flag() -> bool:
    out = subprocess.run([sys.executable, "-m", "repotune.serve", "--help"], capture_output=True, text=True)
    return "--device" in out.stdout


def start_server(folder: Path, device: str, log: Path, serve_fields: dict | None = None
                 ) -> tuple[subprocess.Popen, str, float]:
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "repotune.serve", "--base", str(folder / "base"), "--adapter",
           f"docs={folder / 'docs'}", "--adapter", f"tags={folder / 'tags'}", "--port", str(port)]
    if serve_fields:
        (folder / "serve.json").write_text(json.dumps(serve_fields))
        cmd += ["--serve-config", str(folder / "serve.json")]
    if device != "cpu":
        cmd += ["--device", device]
    t0 = time.perf_counter()
    # the log goes to a file: a pipe nobody reads would block the server once it fills
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    url = f"http://127.0.0.1:{port}"
    while time.perf_counter() - t0 < 300:
        try:
            if httpx.get(f"{url}/v1/models/repotune", timeout=1).status_code == 200:
                return proc, url, time.perf_counter() - t0
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"the predictor exited: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("the predictor did not get ready in 300 s")


def request(client, url: str, route: str, prompt: str, model: str, new_tokens: int) -> dict:
    if route == "completions":
        path, body = "/openai/v1/completions", {"model": model, "prompt": prompt, "max_tokens": new_tokens}
    elif route == "chat":
        path, body = "/openai/v1/chat/completions", {"model": model, "max_tokens": new_tokens,
                                                     "messages": [{"role": "user", "content": prompt}]}
    else:  # KServe v1
        path, body = "/v1/models/repotune:predict", {"instances": [{"prompt": prompt, "model": model,
                                                                    "max_tokens": new_tokens}]}
    t0 = time.perf_counter()
    response = client.post(url + path, json=body)
    seconds = time.perf_counter() - t0
    if response.status_code != 200:
        raise SystemExit(f"{path}: HTTP {response.status_code}: {response.text[:500]}")
    data = response.json()
    # v1 answers text only; the completions requests' usage shows the count (all run the same generate)
    tokens = data["usage"]["completion_tokens"] if "usage" in data else new_tokens
    if tokens != new_tokens:
        raise SystemExit(f"{path}: {tokens} new tokens, expected {new_tokens} (min_new_tokens not honoured?)")
    return {"seconds": seconds, "tokens": tokens}


def load_unload_times(url: str, folder: Path, rounds: int = 3) -> dict:
    """Seconds to load an adapter while serving (POST /v1/load_lora_adapter, a local folder here) and to unload it."""
    import httpx

    loads, unloads = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        r = httpx.post(f"{url}/v1/load_lora_adapter", timeout=300,
                       json={"lora_name": "extra", "lora_path": str(folder / "docs")})
        loads.append(time.perf_counter() - t0)
        if r.status_code != 200:
            raise SystemExit(f"load_lora_adapter: HTTP {r.status_code}: {r.text[:300]}")
        t0 = time.perf_counter()
        httpx.post(f"{url}/v1/unload_lora_adapter", json={"lora_name": "extra"}, timeout=300).raise_for_status()
        unloads.append(time.perf_counter() - t0)
    return {"load_ms": 1000 * statistics.median(loads), "unload_ms": 1000 * statistics.median(unloads), "n": rounds}


def concurrent_load(url: str, texts: list[str], args: argparse.Namespace) -> list[dict]:
    """C clients at once through the openai SDK, each streaming its requests one after another, models cycling
    docs, tags, base: aggregate new tokens per second over the wall time, latency and time to the first token."""
    import threading

    import openai

    rows = []
    for clients in [int(c) for c in args.clients.split(",") if c.strip()]:
        per_client = max(2, args.load_requests // clients)
        records: list[dict] = []
        lock = threading.Lock()

        def client_loop(index: int) -> None:
            sdk = openai.OpenAI(base_url=f"{url}/openai/v1", api_key="unused", max_retries=0, timeout=600)
            for k in range(per_client):
                model = ("docs", "tags", "repotune")[(index + k) % 3]
                t0 = time.perf_counter()
                first, tokens = None, 0
                stream = sdk.completions.create(model=model, prompt=texts[(index + k) % len(texts)], stream=True,
                                                max_tokens=args.new_tokens, stream_options={"include_usage": True})
                for chunk in stream:
                    if chunk.choices and chunk.choices[0].text and first is None:
                        first = time.perf_counter() - t0
                    if chunk.usage:
                        tokens = chunk.usage.completion_tokens
                with lock:
                    records.append({"seconds": time.perf_counter() - t0, "ttft": first or 0.0, "tokens": tokens})

        threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
        cpu0, busy0 = time.process_time(), cpu_busy_s()
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        client_cpu, machine_cpu = time.process_time() - cpu0, cpu_busy_s() - busy0
        seconds = sorted(r["seconds"] for r in records)
        ttft = sorted(r["ttft"] for r in records)
        rank = max(0, -(-95 * len(seconds) // 100) - 1)
        rows.append({"clients": clients, "requests": len(records), "tokens_per_s": sum(r["tokens"] for r in records) / wall,
                     "p50_ms": 1000 * statistics.median(seconds), "p95_ms": 1000 * seconds[rank],
                     "ttft_p50_ms": 1000 * statistics.median(ttft), "ttft_p95_ms": 1000 * ttft[rank],
                     # the clients share the machine with the server: their CPU is taken from generation
                     "client_cpu_share": client_cpu / machine_cpu if machine_cpu > 0 else float("nan")})
    return rows


# --- figures -------------------------------------------------------------------------------------------------------

def figures(runs: list[dict]) -> dict[str, float]:
    seconds = sorted(r["seconds"] for r in runs)
    rank = max(0, -(-95 * len(seconds) // 100) - 1)  # nearest-rank p95
    return {"n": len(seconds), "p50_ms": 1000 * statistics.median(seconds), "p95_ms": 1000 * seconds[rank],
            "tokens_per_s": sum(r["tokens"] for r in runs) / sum(seconds)}


def run(args: argparse.Namespace) -> dict:
    routes = [r.strip() for r in args.routes.split(",") if r.strip()]
    if not set(routes) <= {"completions", "v1", "chat"} or "completions" not in routes:
        raise SystemExit("--routes: a comma list of completions (required), v1, chat")
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        folder = Path(tmp)
        busy0, own0, t0 = cpu_busy_s(), own_cpu_s(), time.perf_counter()
        model_info = build_model(folder, args.hidden, args.layers, args.intermediate or args.hidden * 11 // 4,
                                 args.new_tokens)
        texts = make_prompts(folder, args.prompts + args.warmup, args.prompt_tokens)
        build_s = time.perf_counter() - t0
        note = None
        if args.device != "cpu" and not predictor_has_device_flag():
            note = (f"the predictor has no device option (it loads the base model on CPU): bare ran on "
                    f"{args.device}, HTTP on cpu; the overhead ratio compares different devices")
            server_device = "cpu"
        else:
            server_device = args.device
        bare = Bare(folder, args.device, folder / "bare.log")
        import httpx

        proc, url, ready_s = start_server(folder, server_device, folder / "server.log",
                                          {"mixed_adapters": not args.grouped, "adapter_prefixes": [f"{folder}/"]})
        results: dict[str, list[dict]] = {k: [] for k in ["bare", "bare chat", *routes, "same", "switch"]}
        try:
            with httpx.Client(timeout=600) as client:
                def http(route: str, text: str, model: str) -> dict:
                    return request(client, url, route, text, model, args.new_tokens)

                def bare_gen(text: str, chat: bool = False) -> dict:
                    r = bare.call(op="gen", prompt=text, new_tokens=args.new_tokens, chat=chat)
                    if r["tokens"] != args.new_tokens:
                        raise SystemExit(f"bare: {r['tokens']} new tokens, expected {args.new_tokens}")
                    return r

                for text in texts[:args.warmup]:  # warm-up: both processes, every route, both adapters
                    bare_gen(text)
                    if "chat" in routes:
                        bare_gen(text, chat=True)
                    for route in routes:
                        http(route, text, "docs")
                    http("completions", text, "tags")
                    http("completions", text, "docs")
                for rep in range(args.repeats):
                    for i, text in enumerate(texts[args.warmup:]):
                        results["bare"].append(bare_gen(text))
                        if "chat" in routes:
                            results["bare chat"].append(bare_gen(text, chat=True))
                        if "v1" in routes:
                            results["v1"].append(http("v1", text, "docs"))  # follows a docs request
                        if (i + rep) % 2:
                            http("completions", text, "tags")
                            results["switch"].append(http("completions", text, "docs"))
                            results["same"].append(http("completions", text, "docs"))
                        else:
                            results["same"].append(http("completions", text, "docs"))
                        if "chat" in routes:
                            results["chat"].append(http("chat", text, "docs"))
                        if not (i + rep) % 2:
                            http("completions", text, "tags")
                            results["switch"].append(http("completions", text, "docs"))
                results["completions"] = results["same"]
                set_adapter = bare.call(op="set_adapter", n=200)
                prompt_tokens = statistics.mean(r["prompt_tokens"] for r in results["bare"])
            load = concurrent_load(url, texts[args.warmup:], args) if args.clients else []
            adapter_admin = load_unload_times(url, folder)
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
            bare.close()
            server_log = (folder / "server.log").read_text()
        wall = time.perf_counter() - t0
        # CPU the rest of the machine used meanwhile: timings are only as clean as this is small
        others = max(0.0, (cpu_busy_s() - busy0) - (own_cpu_s() - own0)) / wall
        if not results["bare chat"]:
            del results["bare chat"]

    rows = {"bare generate (peft, docs)": figures(results["bare"])}
    labels = {"completions": "HTTP /openai/v1/completions", "v1": "HTTP /v1/models/repotune:predict",
              "chat": "HTTP /openai/v1/chat/completions"}
    if "bare chat" in results:
        rows["bare generate, chat template"] = figures(results["bare chat"])
    overhead = {}
    for route in routes:
        rows[labels[route]] = figures(results[route])
        ref = results["bare chat"] if route == "chat" else results["bare"]
        ratio = rows[labels[route]]["p50_ms"] / figures(ref)["p50_ms"] - 1
        pairs = list(zip(results[route], ref, strict=True))  # same prompt, back to back
        overhead[route] = {"p50_ratio": ratio, "pass": ratio <= TARGET,
                           "paired_median_ms": statistics.median(1000 * (h["seconds"] - b["seconds"]) for h, b in pairs),
                           "paired_median_ratio": statistics.median(h["seconds"] / b["seconds"] - 1 for h, b in pairs)}
    diffs = [1000 * (s["seconds"] - m["seconds"]) for s, m in zip(results["switch"], results["same"])]
    switch = {"median_ms": statistics.median(diffs), "mean_ms": statistics.mean(diffs),
              "stderr_ms": statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else 0.0,
              "after_switch": figures(results["switch"]), "set_adapter_in_process": set_adapter}
    return {"model": {"hidden": args.hidden, "layers": args.layers, **model_info, "lora_r": 16,
                      "device": args.device, "server_device": server_device, "bare_dtype": bare.info["dtype"]},
            "prompts": args.prompts, "repeats": args.repeats, "prompt_tokens_mean": prompt_tokens,
            "new_tokens": args.new_tokens, "build_s": build_s, "server_ready_s": ready_s, "rows": rows,
            "overhead": overhead, "target": TARGET, "switch": switch, "note": note,
            "server_log_lines": len(server_log.splitlines()), "bare_threads": bare.info["threads"],
            "other_load_cores": others, "cores": os.cpu_count(), "load": load, "grouped": args.grouped,
            "adapter_admin": adapter_admin,
            "raw_ms": {k: [round(1000 * x["seconds"], 2) for x in v] for k, v in results.items()}}


def report(r: dict) -> None:
    m = r["model"]
    print(f"model: random Qwen2, hidden {m['hidden']}, {m['layers']} layers, {m['params'] / 1e6:.1f}M params, "
          f"vocab {m['vocab']}, LoRA r={m['lora_r']} all-linear (unmerged), {m['bare_dtype']}; bare on "
          f"{m['device']}, predictor on {m['server_device']}; {r['bare_threads']} torch threads, {r['cores']} cores")
    print(f"requests: {r['prompts']} prompts x {r['repeats']}, ~{r['prompt_tokens_mean']:.0f} prompt tokens, "
          f"{r['new_tokens']} new tokens each (greedy, fixed), sequential; build {r['build_s']:.1f} s, "
          f"predictor ready in {r['server_ready_s']:.1f} s")
    print("\n| path | n | p50 ms | p95 ms | tokens/s |\n| --- | ---: | ---: | ---: | ---: |")
    for name, f in r["rows"].items():
        print(f"| {name} | {f['n']} | {f['p50_ms']:.1f} | {f['p95_ms']:.1f} | {f['tokens_per_s']:.1f} |")
    print()
    for route, o in r["overhead"].items():
        print(f"HTTP overhead, {route:<11}: {o['p50_ratio'] * 100:+5.1f}% (p50 / bare p50 - 1)  "
              f"{'PASS' if o['pass'] else 'MISS'} (target <= {r['target'] * 100:.0f}%);  per prompt, median: "
              f"{o['paired_median_ms']:+.1f} ms, {o['paired_median_ratio'] * 100:+.1f}%")
    s = r["switch"]
    print(f"adapter switch over HTTP: {s['median_ms']:+.1f} ms per switch (median of {s['after_switch']['n']} "
          f"pairs; mean {s['mean_ms']:+.1f} +/- {s['stderr_ms']:.1f} ms): completions docs after a tags request "
          f"vs after a docs request, same prompt")
    sa = s["set_adapter_in_process"]
    print(f"set_adapter in process: {sa['same_ms'] * 1000:.0f} us when already active (the predictor skips it when "
          f"the adapter is already active), {sa['switch_ms'] * 1000:.0f} us to switch")
    print(f"other load on the machine during the run: {r['other_load_cores']:.2f} cores on average"
          + (" (timings are noisy; rerun on a quiet machine)" if r["other_load_cores"] > 0.2 else ""))
    if r["note"]:
        print(f"note: {r['note']}")
    a = r["adapter_admin"]
    print(f"adapter at run time: load {a['load_ms']:.0f} ms, unload {a['unload_ms']:.0f} ms (median of {a['n']}; "
          f"POST /v1/load_lora_adapter from a local folder, then /v1/unload_lora_adapter)")
    if r["load"]:
        one = r["load"][0]["tokens_per_s"]
        how = "one adapter per batch" if r.get("grouped") else "adapters mixed in a batch"
        print(f"\nconcurrent streaming clients (openai SDK; docs, tags and the base in turn), batched by the predictor "
              f"({how}):")
        print("| clients | requests | tokens/s | x one client | p50 ms | p95 ms | TTFT p50 ms | TTFT p95 ms "
              "| clients' share of CPU |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for row in r["load"]:
            print(f"| {row['clients']} | {row['requests']} | {row['tokens_per_s']:.1f} | {row['tokens_per_s'] / one:.2f} | "
                  f"{row['p50_ms']:.0f} | {row['p95_ms']:.0f} | {row['ttft_p50_ms']:.0f} | {row['ttft_p95_ms']:.0f} | "
                  f"{row.get('client_cpu_share', float('nan')):.0%} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=512, help="hidden size (heads: hidden/64, KV heads: /256)")
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--intermediate", type=int, default=0, help="MLP size; 0: hidden x 11/4")
    parser.add_argument("--prompts", type=int, default=10, help="measured prompts (after the warm-up ones)")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up prompts (each runs every path once)")
    parser.add_argument("--repeats", type=int, default=1, help="passes over the prompts")
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--routes", default="completions,v1", help="comma list of completions, v1, chat")
    parser.add_argument("--threads", type=int, default=0, help="torch threads in both processes (OMP_NUM_THREADS); "
                        "0: torch's default (all cores)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (bare side; the predictor where it can)")
    parser.add_argument("--json", default=None, help="also write the figures to this file "
                        "(e.g. bench/results/serve.json)")
    parser.add_argument("--clients", default="1,4,16", help="concurrent-client levels of the load section "
                        "(empty: skip it)")
    parser.add_argument("--load-requests", type=int, default=32, help="requests per level (split over its clients, "
                        "at least 2 each)")
    parser.add_argument("--grouped", action="store_true", help="serve.mixed_adapters=false: one adapter per batch "
                        "(default: rows of different adapters share a batch)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # inherited by the bare worker and the predictor
    if args.worker:
        bare_worker(Path(args.worker), args.device)
        return 0
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: no CUDA device here")
    t0 = time.perf_counter()
    result = run(args)
    result["wall_s"] = time.perf_counter() - t0
    report(result)
    print(f"wall: {result['wall_s']:.0f} s")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({**result, "args": vars(args)}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
