"""Rollout storage: preallocated (steps, envs, ...) device tensors, filled one `Transition` per step and read
back as shuffled minibatches of `Batch` records.

Methods store more than PPO needs (discriminator observations, latents, demonstrations) by declaring named extra
fields: `storage.declare("disc_obs", (disc_obs_dim,))`. Each step then takes those fields in
`Transition.extras`, or a method fills them after the rollout with `storage.extras[name].copy_(...)`; minibatches
carry them in `Batch.extras`.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

# per-sample fields every method has; the last three are filled after the rollout by the agent
CORE_FIELDS = ("obs", "action", "log_prob", "value", "target_return", "advantage")


@dataclass
class Transition:
    """One env step of every env. `action` is in the policy's normalised [-1, 1] units; `next_obs` is the
    observation the step returned, before finished envs were reset (the bootstrap target of time-outs)."""

    obs: torch.Tensor  # (N, obs_dim)
    action: torch.Tensor  # (N, action_dim)
    log_prob: torch.Tensor  # (N,) log pi_old(action | obs)
    reward: torch.Tensor  # (N,)
    done: torch.Tensor  # (N,) long DoneFlags
    next_obs: torch.Tensor  # (N, obs_dim)
    extras: dict[str, torch.Tensor] = field(default_factory=dict)  # (N, ...) per declared extra field


@dataclass
class Batch:
    """A minibatch of flattened samples with the targets computed after the rollout."""

    obs: torch.Tensor  # (B, obs_dim)
    action: torch.Tensor  # (B, action_dim)
    log_prob: torch.Tensor  # (B,)
    value: torch.Tensor  # (B,) V_old(obs)
    target_return: torch.Tensor  # (B,) TD(lambda) return, the critic's regression target
    advantage: torch.Tensor  # (B,) as prepared by the algorithm (e.g. normalised)
    extras: dict[str, torch.Tensor] = field(default_factory=dict)  # (B, ...) per declared extra field


class RolloutStorage:
    def __init__(self, num_steps: int, num_envs: int, obs_dim: int, action_dim: int, device: torch.device):
        if num_steps <= 0 or num_envs <= 0:
            raise ValueError(f"storage needs positive sizes, got {num_steps} steps x {num_envs} envs")
        self.num_steps = num_steps
        self.num_envs = num_envs
        self.device = device
        shape = (num_steps, num_envs)
        self.obs = torch.zeros(*shape, obs_dim, device=device)
        self.next_obs = torch.zeros(*shape, obs_dim, device=device)
        self.action = torch.zeros(*shape, action_dim, device=device)
        self.log_prob = torch.zeros(shape, device=device)
        self.reward = torch.zeros(shape, device=device)
        self.done = torch.zeros(shape, dtype=torch.long, device=device)
        # filled after the rollout by the agent
        self.value = torch.zeros(shape, device=device)
        self.target_return = torch.zeros(shape, device=device)
        self.advantage = torch.zeros(shape, device=device)
        self.extras: dict[str, torch.Tensor] = {}
        self.step = 0

    def declare(self, name: str, shape: tuple[int, ...] = (), dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Add a named (steps, envs, *shape) field; returns it (zeros) for methods that fill it themselves."""
        if name in self.extras or name in CORE_FIELDS:
            raise ValueError(f"storage field {name!r} already exists")
        self.extras[name] = torch.zeros(self.num_steps, self.num_envs, *shape, dtype=dtype, device=self.device)
        return self.extras[name]

    @property
    def num_samples(self) -> int:
        return self.num_steps * self.num_envs

    @property
    def full(self) -> bool:
        return self.step == self.num_steps

    def clear(self) -> None:
        self.step = 0

    def add(self, t: Transition) -> None:
        if self.full:
            raise RuntimeError(f"rollout storage is full ({self.num_steps} steps); call clear() first")
        unknown = set(t.extras) - set(self.extras)
        if unknown:
            raise KeyError(f"transition extras {sorted(unknown)} were not declared; declared: {sorted(self.extras)}")
        i = self.step
        self.obs[i].copy_(t.obs)
        self.action[i].copy_(t.action)
        self.log_prob[i].copy_(t.log_prob)
        self.reward[i].copy_(t.reward)
        self.done[i].copy_(t.done)
        self.next_obs[i].copy_(t.next_obs)
        for name, value in t.extras.items():
            self.extras[name][i].copy_(value)
        self.step += 1

    def flat(self, name: str) -> torch.Tensor:
        """A core or extra field with steps and envs flattened into one sample dimension (a view)."""
        tensor = self.extras[name] if name in self.extras else getattr(self, name)
        return tensor.flatten(0, 1)

    def minibatches(self, batch_size: int, num_epochs: int) -> Iterator[Batch]:
        """`num_epochs` passes over all samples, each in a fresh random order, `batch_size` at a time
        (the last batch of an epoch may be smaller). Each field is shuffled once per epoch and the minibatches are
        slices of it (views): the same rows as gathering each minibatch, without a gather per field and minibatch
        (on the GPU the update is bound by kernel launches)."""
        if not self.full:
            raise RuntimeError(f"rollout storage holds {self.step} of {self.num_steps} steps")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        core = {name: self.flat(name) for name in CORE_FIELDS}
        extras = {name: self.flat(name) for name in self.extras}
        for _ in range(num_epochs):
            order = torch.randperm(self.num_samples, device=self.device)
            shuffled = {name: tensor[order] for name, tensor in core.items()}
            shuffled_extras = {name: tensor[order] for name, tensor in extras.items()}
            for start in range(0, self.num_samples, batch_size):
                rows = slice(start, start + batch_size)
                yield Batch(**{name: tensor[rows] for name, tensor in shuffled.items()},
                            extras={name: tensor[rows] for name, tensor in shuffled_extras.items()})
