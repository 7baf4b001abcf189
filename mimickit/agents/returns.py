"""Bootstrapped values and GAE(lambda) advantages over a (steps, envs) rollout; TD(lambda) returns are A + V."""
from __future__ import annotations

import torch

from mimickit.envs.base_env import DoneFlags


def compute_next_values(next_values: torch.Tensor, done: torch.Tensor, terminal_value: float = 0.0) -> torch.Tensor:
    """V(s_{t+1}) as the returns see it, (T, N).

    Running envs (NULL) and time-outs (TIME, an artificial cut) keep the critic's V(s_{t+1}) of the step's
    final observation; failures (FAIL) and successes (SUCC) are true terminal states and get `terminal_value`.
    """
    terminal = (done == DoneFlags.FAIL) | (done == DoneFlags.SUCC)
    return torch.where(terminal, torch.full_like(next_values, terminal_value), next_values)


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    done: torch.Tensor,
    discount: float,
    lam: float,
) -> torch.Tensor:
    """Generalised advantage estimates A_t, (T, N), for a rollout of T steps.

    `next_values` must already hold the bootstrap of each step (see `compute_next_values`). With
    e_t = 1 if an episode ended at step t (any DoneFlags other than NULL), the recurrence is, backwards in t:
        delta_t = r_t + gamma * V(s_{t+1}) - V(s_t)                  # TD error
        A_t     = delta_t + gamma * lambda * (1 - e_t) * A_{t+1}     # A_T = 0: the rollout is cut after T-1
    The TD(lambda) return (the critic's target) is R_t = A_t + V(s_t).
    """
    if not (rewards.shape == values.shape == next_values.shape == done.shape):
        raise ValueError(
            f"compute_gae: shapes differ: rewards {tuple(rewards.shape)}, values {tuple(values.shape)}, "
            f"next_values {tuple(next_values.shape)}, done {tuple(done.shape)}"
        )
    deltas = rewards + discount * next_values - values
    continues = (done == DoneFlags.NULL).to(rewards.dtype)
    advantages = torch.empty_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        running = deltas[t] + discount * lam * continues[t] * running
        advantages[t] = running
    return advantages
