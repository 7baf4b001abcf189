"""AMP steering task (MimicKit's `task_steering_env.py`): move in a target direction at a target speed while facing a
target direction.

The env is AMP's with a task: a target ground direction (uniform, or +x with `rand_tar_dir: false`), a speed
~ U[tar_speed_min, tar_speed_max] and a facing direction (uniform and independent with `rand_face_dir`, else the
target direction), drawn at every episode start and again after U[tar_change_time_min, tar_change_time_max]
seconds. The policy sees the direction, the speed and the facing direction in its heading frame (5 numbers after
AMP's character observation); the env reward is MimicKit's steering reward, which the agent mixes with the style
reward.

Logged per episode (info "episode/*", as `train/episode/...` and `test/episode/...`), both over the steps at least
`metric_settle_time` seconds after a target change (over every step of an episode that has none): `speed_err`, for
each target |mean speed along its direction - target speed| (m/s; a mean over the target's steps, so the gait's
speed oscillation within a stride does not count), weighted by its steps; `heading_err_deg`, the mean angle between
the character's facing and the target facing. Also the reward terms, root height and tilt.
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
    compute_angle_deg,
    compute_facing_xy,
    compute_root_vel_xy,
    compute_upright_metrics,
)

TARGET_RGBA = (0.9, 0.1, 0.1, 1.0)  # the direction and speed to move at
FACE_RGBA = (0.1, 0.8, 0.1, 1.0)  # the direction to face
ARROW_WIDTH = 0.04  # m
ARROW_LENGTH = (1.0, 1.5)  # m, at the slowest and the fastest target speed (MimicKit's marker distances)


class TaskSteeringEnv(TaskEnv):
    def __init__(
        self,
        rand_tar_dir: bool,
        rand_face_dir: bool,
        tar_speed_min: float,
        tar_speed_max: float,
        tar_change_time_min: float,
        tar_change_time_max: float,
        vel_err_scale: float,
        vel_reward_w: float,
        face_reward_w: float,
        metric_settle_time: float,
        **amp_kwargs,
    ):
        """rand_tar_dir: uniform random target directions (else always +x); rand_face_dir: an independent random
        facing direction (else the target direction); tar_speed_min/max: range of target speeds (m/s);
        tar_change_time_min/max: range of the time (s) until the targets change; vel_err_scale: k of
        exp(-k * |target velocity - velocity|^2); vel/face_reward_w: term weights; metric_settle_time: seconds after
        a target change before the logged speed and heading errors count (turning and speeding up take time).
        `amp_kwargs` are `AMPEnv`'s."""
        super().__init__(**amp_kwargs)
        if not 0.0 <= tar_speed_min <= tar_speed_max:
            raise ValueError(f"target speeds need 0 <= min <= max, got {tar_speed_min}, {tar_speed_max}")
        self.rand_tar_dir, self.rand_face_dir = rand_tar_dir, rand_face_dir
        self.tar_speed_min, self.tar_speed_max = tar_speed_min, tar_speed_max
        self.vel_err_scale = vel_err_scale
        self.reward_weights = {"vel": vel_reward_w, "face": face_reward_w}
        self.metric_settle_time = metric_settle_time

        n, device = self.num_envs, self.device
        self.tar_dir = torch.zeros(n, 2, device=device)
        self.tar_dir[:, 0] = 1.0
        self.tar_speed = torch.full((n,), tar_speed_min, device=device)
        self.face_dir = self.tar_dir.clone()
        self._plus_x = torch.tensor([1.0, 0.0], device=device)  # the target direction without rand_tar_dir
        self.clock = TargetClock(n, device, tar_change_time_min, tar_change_time_max)
        self._root_pos_before = self.engine.root_pos().clone()  # root position before the step being taken
        self.errors = SteeringErrorLog(n, device)
        self._final = {key: EpisodeFinal(n, device) for key in ("episode/speed_err", "episode/heading_err_deg")}

    # ---- task state ----
    def _random_dirs(self) -> torch.Tensor:
        theta = 2.0 * torch.pi * torch.rand(self.num_envs, device=self.device) - torch.pi
        return torch.stack([torch.cos(theta), torch.sin(theta)], dim=-1)

    def _new_targets_where(self, mask: torch.Tensor) -> None:
        """Draw direction, speed and facing for the envs where `mask` is true, and their next change time."""
        tar_dir = self._random_dirs() if self.rand_tar_dir else self._plus_x.expand_as(self.tar_dir)
        face_dir = self._random_dirs() if self.rand_face_dir else tar_dir
        speed = self.tar_speed_min + (self.tar_speed_max - self.tar_speed_min) * torch.rand_like(self.tar_speed)
        column = mask.unsqueeze(-1)
        self.tar_dir.copy_(torch.where(column, tar_dir, self.tar_dir))
        self.face_dir.copy_(torch.where(column, face_dir, self.face_dir))
        self.tar_speed.copy_(torch.where(mask, speed, self.tar_speed))
        self.clock.restart_where(mask, self._episode_time())

    def _reset_where(self, mask: torch.Tensor) -> None:
        """AMP's reset, then fresh targets and clean per-episode errors for the reset envs."""
        super()._reset_where(mask)
        self._root_pos_before.copy_(torch.where(mask.unsqueeze(-1), self.engine.root_pos(), self._root_pos_before))
        self._new_targets_where(mask)
        self.errors.reset_where(mask)

    def _post_physics_step(self) -> TaskStep:
        """Disc history, the step's velocity, the errors against the current targets, then new targets where their
        time is up (MimicKit changes targets before the observation and reward, which see the new ones)."""
        super()._post_physics_step()
        e = self.engine
        root_pos, root_rot = e.root_pos(), e.root_rot()
        root_vel_xy = compute_root_vel_xy(root_pos, self._root_pos_before, self.dt)
        self._root_pos_before.copy_(root_pos)

        time = self._episode_time()
        speed = (self.tar_dir * root_vel_xy).sum(-1)
        heading_err = compute_angle_deg(compute_facing_xy(root_rot), self.face_dir)
        self.errors.add(speed, self.tar_speed, heading_err, settled=self.clock.age(time) >= self.metric_settle_time)
        due = self.clock.due(time)
        self.errors.end_targets_where(due, self.tar_speed)
        self._new_targets_where(due)

        speed_mean, heading_mean = self.errors.means(self.tar_speed)
        metrics = {
            "episode/speed_err": self._final["episode/speed_err"](speed_mean, self.episode_step),
            "episode/heading_err_deg": self._final["episode/heading_err_deg"](heading_mean, self.episode_step),
            **compute_upright_metrics(root_pos, root_rot),
        }
        return TaskStep(root_pos, root_rot, root_vel_xy, metrics)

    # ---- TaskEnv ----
    def task_obs(self) -> torch.Tensor:
        return compute_steering_obs(self.engine.root_rot(), self.tar_dir, self.tar_speed, self.face_dir)

    def task_reward_terms(self, step: TaskStep) -> dict[str, torch.Tensor]:
        return compute_steering_reward_terms(
            root_vel_xy=step.root_vel_xy,
            facing_xy=compute_facing_xy(step.root_rot),
            tar_dir=self.tar_dir,
            tar_speed=self.tar_speed,
            face_dir=self.face_dir,
            vel_err_scale=self.vel_err_scale,
        )

    # ---- rendering ----
    def task_markers(self) -> list[Marker]:
        """Arrows on the ground from below the root: red along the target direction, longer for a faster target;
        green along the direction to face."""
        start = self.engine.root_pos().clone()
        start[:, 2] = 0.05
        span = max(self.tar_speed_max - self.tar_speed_min, 1e-6)
        length = ARROW_LENGTH[0] + (ARROW_LENGTH[1] - ARROW_LENGTH[0]) * (self.tar_speed - self.tar_speed_min) / span
        on_ground = lambda xy: torch.cat([xy, torch.zeros_like(xy[:, :1])], dim=-1)  # noqa: E731
        tar_end = start + on_ground(length.unsqueeze(-1) * self.tar_dir)
        face_start = start + torch.tensor([0.0, 0.0, 0.03], device=self.device)
        face_end = face_start + on_ground(ARROW_LENGTH[0] * self.face_dir)
        return [Marker("arrow", start, tar_end, ARROW_WIDTH, TARGET_RGBA),
                Marker("arrow", face_start, face_end, ARROW_WIDTH, FACE_RGBA)]


class SteeringErrorLog:
    """Per-env sums of the current episode's speed and heading errors, updated in place. Settled steps (long enough
    after a target change) give the speed error of each target's mean speed, weighted by its settled steps, and the
    mean heading error; every step gives the per-step means an episode without settled steps reports."""

    def __init__(self, num_envs: int, device: torch.device):
        zeros = lambda: torch.zeros(num_envs, device=device)  # noqa: E731
        self.target_speed_sum, self.target_steps = zeros(), zeros()  # the current target's settled steps
        self.speed_err_sum = zeros()  # settled steps x speed error of each earlier target
        self.heading_settled, self.num_settled = zeros(), zeros()
        self.speed_all, self.heading_all, self.num_all = zeros(), zeros(), zeros()

    def reset_where(self, mask: torch.Tensor) -> None:
        for sums in (self.target_speed_sum, self.target_steps, self.speed_err_sum, self.heading_settled,
                     self.num_settled, self.speed_all, self.heading_all, self.num_all):
            sums.masked_fill_(mask, 0.0)

    def add(self, speed: torch.Tensor, tar_speed: torch.Tensor, heading_err: torch.Tensor,
            settled: torch.Tensor) -> None:
        """One step: speed along the target direction, target speed, heading error (degrees), settled or not."""
        s = settled.to(torch.float32)
        self.target_speed_sum += s * speed
        self.target_steps += s
        self.heading_settled += s * heading_err
        self.num_settled += s
        self.speed_all += (speed - tar_speed).abs()
        self.heading_all += heading_err
        self.num_all += 1.0

    def end_targets_where(self, mask: torch.Tensor, tar_speed: torch.Tensor) -> None:
        """The targets of the envs where `mask` is true change (`tar_speed`: theirs, before the change)."""
        self.speed_err_sum += torch.where(mask, self._target_err_sum(tar_speed), torch.zeros_like(tar_speed))
        self.target_speed_sum.masked_fill_(mask, 0.0)
        self.target_steps.masked_fill_(mask, 0.0)

    def means(self, tar_speed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N,) speed error (m/s) and mean heading error (degrees) so far, `tar_speed` the current target's."""
        has = self.num_settled > 0
        settled = self.num_settled.clamp_min(1.0)
        speed = torch.where(has, (self.speed_err_sum + self._target_err_sum(tar_speed)) / settled,
                            self.speed_all / self.num_all.clamp_min(1.0))
        heading = torch.where(has, self.heading_settled / settled, self.heading_all / self.num_all.clamp_min(1.0))
        return speed, heading

    def _target_err_sum(self, tar_speed: torch.Tensor) -> torch.Tensor:
        """Settled steps x |mean speed - target speed| of the current targets (0 without settled steps)."""
        mean = self.target_speed_sum / self.target_steps.clamp_min(1.0)
        return self.target_steps * (mean - tar_speed).abs()


def compute_steering_obs(
    root_rot: torch.Tensor, tar_dir: torch.Tensor, tar_speed: torch.Tensor, face_dir: torch.Tensor
) -> torch.Tensor:
    """Target direction (2), target speed (1) and facing direction (2), directions in the root's heading frame,
    (N, 5)."""
    heading_inv = rot.heading_quat_inv(root_rot)
    to_local = lambda xy: rot.quat_rotate(  # noqa: E731
        heading_inv, torch.cat([xy, torch.zeros_like(xy[:, :1])], dim=-1))[:, :2]
    return torch.cat([to_local(tar_dir), tar_speed.unsqueeze(-1), to_local(face_dir)], dim=-1)


def compute_steering_reward_terms(
    root_vel_xy: torch.Tensor,
    facing_xy: torch.Tensor,
    tar_dir: torch.Tensor,
    tar_speed: torch.Tensor,
    face_dir: torch.Tensor,
    vel_err_scale: float,
) -> dict[str, torch.Tensor]:
    """MimicKit's steering reward terms, each (N,) in [0, 1]:

    vel = exp(-vel_err_scale * |tar_speed * tar_dir - v|^2) with v the root's ground velocity, and 0 when the
    character moves against the target direction (tar_dir . v < 0);
    face = max(face_dir . facing, 0)."""
    err = (tar_speed.unsqueeze(-1) * tar_dir - root_vel_xy).square().sum(-1)
    vel = torch.exp(-vel_err_scale * err)
    vel = torch.where((tar_dir * root_vel_xy).sum(-1) < 0.0, torch.zeros_like(vel), vel)
    face = torch.clamp_min((face_dir * facing_xy).sum(-1), 0.0)
    return {"vel": vel, "face": face}
