"""Data parallelism for the training loop under Ray Train: DDP (replicas) or FSDP (fully_shard from
torch.distributed.fsdp, the FSDP2 API: each decoder layer and the root sharded across workers; it runs on
gloo/CPU as on NCCL/GPU). Checkpoints stay plain peft adapters: sharded state is gathered on every rank and
written by rank 0."""

from __future__ import annotations

from typing import Any


def wrap(model: Any, strategy: str, world: int) -> Any:
    """The model ready for `world` workers (unchanged for one)."""
    if world <= 1:
        return model
    if strategy == "fsdp":
        from torch.distributed.fsdp import fully_shard

        base = model.get_base_model()
        layer_types = set(getattr(base, "_no_split_modules", None) or [])
        layers = [m for m in base.modules() if type(m).__name__ in layer_types]
        for layer in layers:  # one all-gather per decoder layer, not one for the whole model
            fully_shard(layer)
        fully_shard(model)
        return model
    import ray.train.torch

    return ray.train.torch.prepare_model(model, move_to_device=False)


def is_sharded(model: Any) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def unwrap(model: Any) -> Any:
    return getattr(model, "module", model)  # DDP keeps the model in .module; FSDP2 shards it in place


def gather(model: Any, optimizer: Any) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(full adapter+base state dict or None when not sharded, optimizer state dict). Collective under FSDP:
    every rank must call it."""
    if not is_sharded(model):
        return None, optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                         get_optimizer_state_dict)

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    full = get_model_state_dict(model, options=options)
    return {k: v for k, v in full.items() if k in trainable}, get_optimizer_state_dict(model, optimizer,
                                                                                      options=options)


def load_optimizer(model: Any, optimizer: Any, state: dict[str, Any]) -> None:
    if not is_sharded(model):
        optimizer.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    set_optimizer_state_dict(model, optimizer, optim_state_dict=state,
                             options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=False))
