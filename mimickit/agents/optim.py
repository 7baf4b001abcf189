"""Optimisers from config: `torch.optim` classes by dotted path (`_target_`) or by short name."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Union

import torch
from hydra.utils import get_class

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
}

OptimizerSpec = Union[Mapping[str, Any], Callable[..., torch.optim.Optimizer]]


def build_optimizer(spec: OptimizerSpec, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """`spec` is either a callable taking the parameters (what Hydra's `instantiate` makes of a node with
    `_partial_: true`), or a mapping with `_target_: torch.optim.SGD` (a dotted path) or `name: sgd`
    (one of OPTIMIZERS) plus the optimiser's keyword arguments (`lr`, `momentum`, ...)."""
    params = list(params)
    if not params:
        raise ValueError("build_optimizer: no trainable parameters")
    if callable(spec):
        return spec(params)
    if not isinstance(spec, Mapping):
        raise TypeError(f"optimizer spec must be a mapping or a callable, got {type(spec).__name__}")
    kwargs = {str(k): v for k, v in spec.items() if k not in ("_target_", "_partial_", "name")}
    if "_target_" in spec:
        cls = get_class(spec["_target_"])
    elif "name" in spec:
        name = str(spec["name"]).lower()
        if name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {spec['name']!r}; known: {sorted(OPTIMIZERS)} or a _target_ path")
        cls = OPTIMIZERS[name]
    else:
        raise ValueError(f"optimizer spec needs `_target_` or `name`, got keys {sorted(spec)}")
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise TypeError(f"{spec.get('_target_')!r} is not a torch.optim.Optimizer")
    return cls(params, **kwargs)


def step_unless(skip: torch.Tensor, optimizer: torch.optim.Optimizer, step: Callable[[], None]) -> None:
    """Run `step` (backward and `optimizer.step()`), then put the parameters and the optimiser's state back where
    the device flag `skip` is true: a step skipped by a rule decided on the device (PPO's max_kl), without a host
    read, so that it can run inside a CUDA graph. An optimiser's very first step (its state does not exist before
    it) cannot be undone."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    kept = params + [v for p in params for v in optimizer.state.get(p, {}).values() if torch.is_tensor(v)]
    before = [t.detach().clone() for t in kept]
    step()
    with torch.no_grad():
        for tensor, old in zip(kept, before):
            tensor.copy_(torch.where(skip, old, tensor))
