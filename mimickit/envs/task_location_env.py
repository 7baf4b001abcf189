"""AMP location task (MimicKit's `task_location_env.py`): walk to a target placed at random around the character.

The env is AMP's (reference state initialisation, discriminator history, fall or time-out ends) with a task: a
target on the ground, d ~ U[tar_dist_min, tar_dist_max] metres from the root in a uniform random direction, drawn at
every episode start and again after U[tar_change_time_min, tar_change_time_max] seconds. The policy sees the target
in its heading frame (2 numbers after AMP's character observation); the env reward is MimicKit's location reward,
which the agent mixes with the style reward (`task_reward_weight`, `disc_reward_weight`).

Logged per episode (info "episode/*", as `train/episode/...` and `test/episode/...`): `tar_reached`, the share of
the episode's targets reached (root within `reach_dist` of it, on the ground) before they changed, a target still
running at the episode's end counting only once reached; `tar_final_dist`, the distance left to each target when it
changed (mean over the episode's changed targets; the current distance while none has); `tar_dist`, the mean
distance; the reward terms; root height and tilt.
"""
from __future__ import annotations

import torch

from mimickit.anim import rotations as rot
from mimickit.envs.task_common import (
    EpisodeFinal,
    Marker,
    TargetClock,
    TaskEnv,
    TaskStep,
    compute_facing_xy,
    compute_root_vel_xy,
    compute_upright_metrics,
)

TARGET_RGBA = (0.9, 0.1, 0.1, 1.0)
TARGET_RADIUS = 0.15  # m, the drawn sphere


class TaskLocationEnv(TaskEnv):
    def __init__(
        self,
        tar_speed: float,
        tar_dist_min: float,
        tar_dist_max: float,
        tar_change_time_min: float,
        tar_change_time_max: float,
        pos_err_scale: float,
        vel_err_scale: float,
        dist_threshold: float,
        pos_reward_w: float,
        vel_reward_w: float,
        face_reward_w: float,
        reach_dist: float,
        **amp_kwargs,
    ):
        """tar_speed: speed (m/s) towards the target the velocity term asks for (faster is not penalised);
        tar_dist_min/max: range of the target's distance from the root when drawn (m); tar_change_time_min/max:
        range of the time (s) until the target changes; pos_err_scale, vel_err_scale: k of exp(-k * err) of the
        position term (squared distance) and the velocity term (squared speed shortfall); dist_threshold: squared
        distance (m^2, as MimicKit compares it) under which the velocity and facing terms are 1;
        pos/vel/face_reward_w: term weights; reach_dist: a target counts as reached within this distance (m; the
        logged `tar_reached` only). `amp_kwargs` are `AMPEnv`'s."""
        super().__init__(**amp_kwargs)
        if not 0.0 <= tar_dist_min <= tar_dist_max:
            raise ValueError(f"target distances need 0 <= min <= max, got {tar_dist_min}, {tar_dist_max}")
        self.tar_speed = tar_speed
        self.tar_dist_min, self.tar_dist_max = tar_dist_min, tar_dist_max
        self.pos_err_scale, self.vel_err_scale = pos_err_scale, vel_err_scale
        self.dist_threshold = dist_threshold
        self.reward_weights = {"pos": pos_reward_w, "vel": vel_reward_w, "face": face_reward_w}
        self.reach_dist = reach_dist

        n, device = self.num_envs, self.device
        self.tar_pos = torch.zeros(n, 3, device=device)  # on the ground (z = 0)
        self.clock = TargetClock(n, device, tar_change_time_min, tar_change_time_max)
        self._root_pos_before = self.engine.root_pos().clone()  # root position before the step being taken
        self.reach = ReachLog(n, device)
        self._final = {key: EpisodeFinal(n, device) for key in ("episode/tar_reached", "episode/tar_final_dist")}

    # ---- task state ----
    def _new_targets_where(self, mask: torch.Tensor, root_pos: torch.Tensor) -> None:
        """Draw targets around the root for the envs where `mask` is true, and their next change time."""
        dist = self.tar_dist_min + (self.tar_dist_max - self.tar_dist_min) * torch.rand_like(self.clock.change_time)
        theta = 2.0 * torch.pi * torch.rand_like(self.clock.change_time)
        xy = root_pos[:, :2] + dist.unsqueeze(-1) * torch.stack([torch.cos(theta), torch.sin(theta)], dim=-1)
        tar_pos = torch.cat([xy, torch.zeros_like(xy[:, :1])], dim=-1)
        self.tar_pos.copy_(torch.where(mask.unsqueeze(-1), tar_pos, self.tar_pos))
        self.clock.restart_where(mask, self._episode_time())

    def _reset_where(self, mask: torch.Tensor) -> None:
        """AMP's reset, then a fresh target and clean per-episode counts for the reset envs."""
        super()._reset_where(mask)
        root_pos = self.engine.root_pos()
        self._root_pos_before.copy_(torch.where(mask.unsqueeze(-1), root_pos, self._root_pos_before))
        self._new_targets_where(mask, root_pos)
        self.reach.reset_where(mask)

    def _post_physics_step(self) -> TaskStep:
        """Disc history, the step's velocity, the reach bookkeeping of the current target, then new targets where
        their time is up (MimicKit changes targets before the observation and reward, which see the new one)."""
        super()._post_physics_step()
        e = self.engine
        root_pos, root_rot = e.root_pos(), e.root_rot()
        root_vel_xy = compute_root_vel_xy(root_pos, self._root_pos_before, self.dt)
        self._root_pos_before.copy_(root_pos)

        dist = (self.tar_pos[:, :2] - root_pos[:, :2]).norm(dim=-1)
        self.reach.observe(dist < self.reach_dist)
        due = self.clock.due(self._episode_time())
        self.reach.end_targets_where(due, dist)
        self._new_targets_where(due, root_pos)

        metrics = {
            "episode/tar_dist": dist,
            "episode/tar_reached": self._final["episode/tar_reached"](self.reach.share(), self.episode_step),
            "episode/tar_final_dist": self._final["episode/tar_final_dist"](self.reach.final_dist(dist),
                                                                              self.episode_step),
            **compute_upright_metrics(root_pos, root_rot),
        }
        return TaskStep(root_pos, root_rot, root_vel_xy, metrics)

    # ---- TaskEnv ----
    def task_obs(self) -> torch.Tensor:
        return compute_location_obs(self.engine.root_pos(), self.engine.root_rot(), self.tar_pos)

    def task_reward_terms(self, step: TaskStep) -> dict[str, torch.Tensor]:
        return compute_location_reward_terms(
            root_pos=step.root_pos,
            root_vel_xy=step.root_vel_xy,
            facing_xy=compute_facing_xy(step.root_rot),
            tar_pos=self.tar_pos,
            tar_speed=self.tar_speed,
            pos_err_scale=self.pos_err_scale,
            vel_err_scale=self.vel_err_scale,
            dist_threshold=self.dist_threshold,
        )

    # ---- rendering ----
    def task_markers(self) -> list[Marker]:
        """The target as a red sphere on the ground, and a line to it from below the root (it may be off-screen)."""
        root_on_ground = self.engine.root_pos().clone()
        root_on_ground[:, 2] = 0.02
        centre = self.tar_pos.clone()
        centre[:, 2] = TARGET_RADIUS
        line_end = centre.clone()
        line_end[:, 2] = 0.02
        return [Marker("sphere", centre, None, TARGET_RADIUS, TARGET_RGBA),
                Marker("line", root_on_ground, line_end, 2.0, TARGET_RGBA)]


class ReachLog:
    """Per-env counts of the current episode's targets: how many have changed (settled) and how many of those were
    reached before they changed, whether the current one has been reached, and the distances left when targets
    changed. Updated in place."""

    def __init__(self, num_envs: int, device: torch.device):
        zeros = lambda: torch.zeros(num_envs, device=device)  # noqa: E731
        self.current_reached = torch.zeros(num_envs, dtype=torch.bool, device=device)
        self.reached, self.settled = zeros(), zeros()  # targets before the current one (settled: they changed)
        self.end_dist_sum = zeros()

    def reset_where(self, mask: torch.Tensor) -> None:
        self.current_reached.masked_fill_(mask, False)
        for counts in (self.reached, self.settled, self.end_dist_sum):
            counts.masked_fill_(mask, 0.0)

    def observe(self, within: torch.Tensor) -> None:
        """The root is within the reach distance of the current target where `within` is true."""
        self.current_reached |= within

    def end_targets_where(self, mask: torch.Tensor, dist: torch.Tensor) -> None:
        """The current targets of the envs where `mask` is true change; `dist` is the distance left to them."""
        m = mask.to(torch.float32)
        self.reached += m * self.current_reached.to(torch.float32)
        self.settled += m
        self.end_dist_sum += m * dist
        self.current_reached &= ~mask

    def share(self) -> torch.Tensor:
        """(N,) share of the episode's settled targets that were reached (the current one counts once reached;
        0 while none is settled)."""
        current = self.current_reached.to(torch.float32)
        return (self.reached + current) / (self.settled + current).clamp_min(1.0)

    def final_dist(self, current_dist: torch.Tensor) -> torch.Tensor:
        """(N,) mean distance left to the changed targets, or the current distance while none has changed."""
        return torch.where(self.settled > 0, self.end_dist_sum / self.settled.clamp_min(1.0), current_dist)


def compute_location_obs(root_pos: torch.Tensor, root_rot: torch.Tensor, tar_pos: torch.Tensor) -> torch.Tensor:
    """The target relative to the root in the root's heading frame, ground plane only: (N, 3) -> (N, 2)."""
    local = rot.quat_rotate(rot.heading_quat_inv(root_rot), tar_pos - root_pos)
    return local[:, :2]


def compute_location_reward_terms(
    root_pos: torch.Tensor,
    root_vel_xy: torch.Tensor,
    facing_xy: torch.Tensor,
    tar_pos: torch.Tensor,
    tar_speed: float,
    pos_err_scale: float,
    vel_err_scale: float,
    dist_threshold: float,
) -> dict[str, torch.Tensor]:
    """MimicKit's location reward terms, each (N,) in [0, 1]:

    pos = exp(-pos_err_scale * e), e = squared ground distance to the target;
    vel = exp(-vel_err_scale * max(tar_speed - s, 0)^2), s = ground velocity along the unit direction u to the
    target, and 0 when s <= 0;
    face = max(u . facing, 0);
    vel = face = 1 once e < dist_threshold (the character has arrived: standing still is right)."""
    diff = tar_pos[:, :2] - root_pos[:, :2]
    pos_err = diff.square().sum(-1)
    pos = torch.exp(-pos_err_scale * pos_err)

    tar_dir = torch.nn.functional.normalize(diff, dim=-1)
    speed = (tar_dir * root_vel_xy).sum(-1)
    shortfall = torch.clamp_min(tar_speed - speed, 0.0)
    vel = torch.where(speed <= 0.0, torch.zeros_like(speed), torch.exp(-vel_err_scale * shortfall.square()))
    face = torch.clamp_min((tar_dir * facing_xy).sum(-1), 0.0)

    arrived = pos_err < dist_threshold
    ones = torch.ones_like(pos)
    return {"pos": pos, "vel": torch.where(arrived, ones, vel), "face": torch.where(arrived, ones, face)}
