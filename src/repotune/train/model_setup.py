"""The model a training worker trains: the base (attention kernel, optional NF4 quantization, optional Liger
kernels) with LoRA on top. GPU-only options fail early with the reason on a CPU, never fall back silently."""

from __future__ import annotations

from typing import Any

from repotune.core.errors import ConfigError
from repotune.models import load_base_model
from repotune.train.config import TrainConfig


def check_device_options(cfg: TrainConfig, device: str) -> None:
    """Options that need a CUDA device (and the `gpu` extra) are refused elsewhere with the reason."""
    if device.startswith("cuda"):
        return
    wanted = [name for name, on in (("train.attention=flex_attention", cfg.attention == "flex_attention"),
                                    ("train.liger_kernels=true", cfg.liger_kernels),
                                    ("train.quantization=4bit", cfg.quantization == "4bit")) if on]
    if wanted:
        raise ConfigError(f"{', '.join(wanted)} need a CUDA GPU (this worker trains on {device}): flex_attention "
                          "has no CPU backward in torch, Liger's kernels are Triton, NF4 is bitsandbytes CUDA")


def _quantization_config(cfg: TrainConfig, dtype: Any) -> Any:
    try:
        from transformers import BitsAndBytesConfig

        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ConfigError("train.quantization=4bit needs bitsandbytes: pip install 'repotune[gpu]'") from None
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=dtype)


def _apply_liger(model: Any) -> None:
    try:
        from liger_kernel.transformers import _apply_liger_kernel_to_instance
    except ImportError:
        raise ConfigError("train.liger_kernels=true needs liger-kernel: pip install 'repotune[gpu]'") from None
    _apply_liger_kernel_to_instance(model=model)


def lora_model(base: Any, cfg: TrainConfig) -> Any:
    from peft import LoraConfig, get_peft_model

    layers: dict[str, Any] = {}
    targets = cfg.target_modules
    if cfg.lora_layers is not None:  # the top layers only: backward stops below the lowest adapted layer
        import torch

        total = base.config.num_hidden_layers
        layers["layers_to_transform"] = list(range(max(total - cfg.lora_layers, 0), total))
        if targets == "all-linear":  # peft needs the names when layers are chosen
            targets = sorted({name.rsplit(".", 1)[-1] for name, module in base.named_modules()
                              if isinstance(module, torch.nn.Linear) and ".layers." in name})
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=targets, task_type="CAUSAL_LM", **layers)
    return get_peft_model(base, lora)


def model_for_training(cfg: TrainConfig, device: str, dtype: Any) -> tuple[Any, Any, Any]:
    """(peft model, base model, tokenizer) ready to train on `device`."""
    check_device_options(cfg, device)
    options: dict[str, Any] = {"attn_implementation": cfg.attention}
    if cfg.quantization == "4bit":
        options.update(quantization_config=_quantization_config(cfg, dtype), device_map={"": device})
    base, tokenizer = load_base_model(cfg.base_model, device=device, dtype=dtype, **options)
    if cfg.liger_kernels:
        _apply_liger(base)
    if cfg.quantization == "4bit":
        from peft import prepare_model_for_kbit_training

        base = prepare_model_for_kbit_training(base, use_gradient_checkpointing=cfg.gradient_checkpointing)
    elif cfg.gradient_checkpointing:
        base.gradient_checkpointing_enable()
        base.enable_input_require_grads()
    return lora_model(base, cfg), base, tokenizer
