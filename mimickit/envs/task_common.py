"""What the AMP task envs (`task_location_env`, `task_steering_env`) share: the `TaskEnv` base (task observation
after AMP's, weighted reward terms, task metrics in the info), when targets change, the root velocity the task
rewards read, the upright measures, markers for the renderer, and episode-level metrics through the env's
"episode/*" info keys. Everything here is batched over envs and updated in place (CUDA-graph safe, no host syncs).
"""
from __future__ import annotations

import abc
import math
from typing import NamedTuple

import torch

from mimickit.anim import rotations as rot
from mimickit.envs.amp_env import AMPEnv


class TaskStep(NamedTuple):
    """What one step's reward and info read."""

    root_pos: torch.Tensor  # (N, 3) after the step
    root_rot: torch.Tensor  # (N, 4)
    root_vel_xy: torch.Tensor  # (N, 2) ground displacement over the step / dt
    metrics: dict[str, torch.Tensor]  # "episode/*" values of the step


class TaskEnv(AMPEnv, abc.ABC):
    """AMP's env with a task: the policy observation is AMP's character observation followed by `task_obs()`, the env
    reward is the weighted sum of `task_reward_terms(step)` (weights in `self.reward_weights`), and the info adds
    each term (`episode/reward_<name>`) and the step's task metrics to AMP's."""

    reward_weights: dict[str, float]

    @abc.abstractmethod
    def task_obs(self) -> torch.Tensor:
        """(N, task obs size) the task's observation, in the character's heading frame."""

    @abc.abstractmethod
    def task_reward_terms(self, step: TaskStep) -> dict[str, torch.Tensor]:
        """Each reward term (N,) of the step, by the names of `reward_weights`."""

    def _episode_time(self) -> torch.Tensor:
        return self.episode_step.to(torch.float32) * self.dt

    def _compute_obs(self) -> torch.Tensor:
        return torch.cat([super()._compute_obs(), self.task_obs()], dim=-1)

    def _compute_reward(self, step: TaskStep) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        terms = self.task_reward_terms(step)
        total = sum(self.reward_weights[name] * term for name, term in terms.items())
        return total, terms

    def _compute_info(self, step: TaskStep, reward_terms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """AMP's (disc obs, root speed), the reward terms and the task metrics."""
        info = super()._compute_info(step, reward_terms)
        info.update({f"episode/reward_{name}": value for name, value in reward_terms.items()})
        info.update(step.metrics)
        return info


class Marker(NamedTuple):
    """A task marker drawn for every shown env by the renderer (`mimickit.render.video`, viewer and videos)."""

    shape: str  # "sphere" (centre `start`, radius `size`), "arrow" (`start` to `end`, width `size` m) or "line" (px)
    start: torch.Tensor  # (num_envs, 3)
    end: torch.Tensor | None  # (num_envs, 3) for arrows and lines, None for spheres
    size: float
    rgba: tuple[float, float, float, float]


class TargetClock:
    """When each env's task target changes, as MimicKit's task envs do: at every episode start, and then whenever the
    episode time reaches the change time, which is set U[time_min, time_max] seconds after the previous change."""

    def __init__(self, num_envs: int, device: torch.device, time_min: float, time_max: float):
        if not 0.0 <= time_min <= time_max:
            raise ValueError(f"target change times need 0 <= min <= max, got min {time_min}, max {time_max}")
        self.time_min, self.time_max = time_min, time_max
        self.change_time = torch.zeros(num_envs, device=device)  # episode time (s) of each env's next change
        self.last_change = torch.zeros(num_envs, device=device)  # episode time (s) of its last change

    def due(self, time: torch.Tensor) -> torch.Tensor:
        """(N,) bool: the envs whose target changes at this episode time (s)."""
        return time >= self.change_time

    def restart_where(self, mask: torch.Tensor, time: torch.Tensor) -> None:
        """The envs where `mask` is true got a new target at `time` (s): draw their next change time."""
        interval = self.time_min + (self.time_max - self.time_min) * torch.rand_like(self.change_time)
        self.change_time.copy_(torch.where(mask, time + interval, self.change_time))
        self.last_change.copy_(torch.where(mask, time, self.last_change))

    def age(self, time: torch.Tensor) -> torch.Tensor:
        """(N,) seconds since each env's target changed."""
        return time - self.last_change


class EpisodeFinal:
    """Reports a running per-env value (e.g. the share of targets reached so far) through an "episode/*" info key,
    whose per-episode mean is what the agent logs (`EpisodeTracker`), so that the logged number is the value at the
    episode's last step.

    At episode step t (1 at the first step after a reset) it returns t * x_t - (t - 1) * x_(t-1); over an episode of
    L steps these sum to L * x_L, so their mean over the episode is x_L whenever the episode ends.
    """

    def __init__(self, num_envs: int, device: torch.device):
        self._previous = torch.zeros(num_envs, device=device)

    def __call__(self, value: torch.Tensor, episode_step: torch.Tensor) -> torch.Tensor:
        t = episode_step.to(value.dtype)
        out = t * value - (t - 1.0) * self._previous
        self._previous.copy_(value)
        return out


def compute_root_vel_xy(root_pos: torch.Tensor, root_pos_before: torch.Tensor, dt: float) -> torch.Tensor:
    """MimicKit's task velocity: the root's ground displacement over the control step / dt, (N, 3) -> (N, 2)."""
    return (root_pos[:, :2] - root_pos_before[:, :2]) / dt


def compute_facing_xy(root_rot: torch.Tensor) -> torch.Tensor:
    """(N, 2) unit ground direction of the root's x axis (the character's facing, its heading)."""
    heading = rot.heading_angle(root_rot)
    return torch.stack([torch.cos(heading), torch.sin(heading)], dim=-1)


def compute_angle_deg(a_xy: torch.Tensor, b_xy: torch.Tensor) -> torch.Tensor:
    """(N,) unsigned angle in degrees between two (N, 2) ground directions."""
    cross = a_xy[:, 0] * b_xy[:, 1] - a_xy[:, 1] * b_xy[:, 0]
    dot = (a_xy * b_xy).sum(-1)
    return torch.atan2(cross, dot).abs() * (180.0 / math.pi)


def compute_tilt_deg(root_rot: torch.Tensor) -> torch.Tensor:
    """(N,) angle in degrees between the root's up (z) axis and the world's: 0 for an upright pelvis."""
    up = torch.zeros_like(root_rot[:, :3])
    up[:, 2] = 1.0
    cos = rot.quat_rotate(root_rot, up)[:, 2].clamp(-1.0, 1.0)
    return torch.acos(cos) * (180.0 / math.pi)


def compute_upright_metrics(root_pos: torch.Tensor, root_rot: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-step "episode/*" values showing the character stays upright: root height (m) and tilt (degrees)."""
    return {"episode/root_height": root_pos[:, 2], "episode/tilt_deg": compute_tilt_deg(root_rot)}
