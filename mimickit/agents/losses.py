"""Loss terms both agents share, as pure functions of tensors."""
from __future__ import annotations

import torch


def compute_normalized_advantages(
    advantages: torch.Tensor, clip: float | None = None, eps: float = 1e-5
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(A - mean) / std over the whole rollout, optionally clipped to +-clip; also returns mean and std."""
    mean = advantages.mean()
    std = advantages.std(unbiased=False)
    norm = (advantages - mean) / torch.clamp_min(std, eps)
    if clip is not None:
        norm = torch.clamp(norm, -clip, clip)
    return norm, mean, std


def compute_value_loss(
    values: torch.Tensor,
    target_returns: torch.Tensor,
    old_values: torch.Tensor | None = None,
    clip: float | None = None,
) -> torch.Tensor:
    """Mean squared error to the TD(lambda) return; with `clip`, PPO's pessimistic clipped form:
    max((V - R)^2, (V_old + clip(V - V_old, -c, c) - R)^2)."""
    loss = (values - target_returns).square()
    if clip is not None and old_values is not None:
        clipped = old_values + torch.clamp(values - old_values, -clip, clip)
        loss = torch.maximum(loss, (clipped - target_returns).square())
    return loss.mean()


def compute_action_bound_loss(action_mean: torch.Tensor, bound: float = 1.0) -> torch.Tensor:
    """Penalty on the policy mean leaving [-bound, bound] (normalised action units): sum of squared
    violations per sample, averaged over the batch. Keeps a fixed-std Gaussian from drifting out of range."""
    violation = torch.clamp_min(action_mean - bound, 0.0) + torch.clamp_max(action_mean + bound, 0.0)
    return violation.square().sum(dim=-1).mean()
