"""The env contract the agents see: batched observations, actions, rewards and named episode ends."""
from __future__ import annotations

import abc
import enum

import torch

# info key of an env whose step spans several env steps (the ASE controller's held latent): (num_envs,) how many of
# each env's steps it counts, so that episode lengths and the means of "episode/*" values stay per env step
ENV_STEPS = "env_steps"


class DoneFlags(enum.IntEnum):
    """Why an episode ended at this step. TIME is a time-out: the agent bootstraps it, unlike FAIL."""

    NULL = 0  # still running
    FAIL = 1  # terminated by failure (fell, drifted from the reference)
    SUCC = 2  # terminated by success (task complete)
    TIME = 3  # truncated by the episode length limit


class BaseEnv(abc.ABC):
    """Batched env. `step` does not reset finished envs: the agent reads the final observation (needed to
    bootstrap time-outs) and then calls `reset_done(done)`, which returns the observations with those envs' fresh."""

    num_envs: int
    device: torch.device

    @property
    @abc.abstractmethod
    def obs_dim(self) -> int: ...

    @property
    @abc.abstractmethod
    def action_dim(self) -> int: ...

    @property
    @abc.abstractmethod
    def action_bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(low, high), each (action_dim,): the range the policy's actions are expected in."""

    @abc.abstractmethod
    def reset(self, env_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Reset the listed envs (all when None); return the full (num_envs, obs_dim) observation."""

    def reset_done(self, done: torch.Tensor) -> torch.Tensor:
        """Reset the envs whose `done` flag (the one `step` returned) is set; return the full observation.

        Envs that can reset without the ids on the host (CharEnv) override this to avoid waiting for the device."""
        return self.reset((done != DoneFlags.NULL).nonzero().flatten())

    @abc.abstractmethod
    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        """Apply (num_envs, action_dim) actions for one control step.

        Returns obs (num_envs, obs_dim), reward (num_envs,), done (num_envs,) long tensor of `DoneFlags`,
        and info: a dict of (num_envs,) tensors; keys under "episode/" are per-step values whose
        episode means the agent logs (summed over the env steps a step spans, given as `ENV_STEPS`).
        """

    @property
    def num_unstable_resets(self) -> int:
        """Running total of envs reset because their simulation diverged; 0 for envs whose physics cannot diverge.

        The agent logs it; it may wait for the device (a GPU engine counts on the GPU), so read it once per
        iteration, not per step."""
        return 0
