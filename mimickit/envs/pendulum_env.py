"""A batched torque-controlled pendulum on `mujoco.batch.Batch`: a small task that proves the agents learn.

Balance (default): start near upright, fail when the pole tips past `fail_angle`. Swing-up: start anywhere
(`init_angle_range=pi`, `fail_angle=None`) with a motor too weak to lift the pole directly.
"""
from __future__ import annotations

import math
import os

import mujoco
import mujoco.batch
import torch

from mimickit.envs.base_env import BaseEnv, DoneFlags

DEFAULT_MODEL_FILE = os.path.join(
    os.path.dirname(__file__), os.pardir, os.pardir, "data", "assets", "pendulum", "pendulum.xml"
)


def compute_wrapped_angle(angle: torch.Tensor) -> torch.Tensor:
    """Angle from upright in [-pi, pi)."""
    return torch.remainder(angle + math.pi, 2.0 * math.pi) - math.pi


def compute_pendulum_obs(angle: torch.Tensor, ang_vel: torch.Tensor) -> torch.Tensor:
    """(N, 3): cos, sin of the angle from upright (continuous across the wrap) and the angular velocity."""
    return torch.stack([torch.cos(angle), torch.sin(angle), ang_vel], dim=-1)


def compute_pendulum_reward(
    angle: torch.Tensor,
    ang_vel: torch.Tensor,
    action: torch.Tensor,
    angle_weight: float,
    vel_weight: float,
    torque_weight: float,
) -> torch.Tensor:
    """exp(-(w_a angle^2 + w_v vel^2 + w_u u^2)) in (0, 1]: 1 when upright, still and unactuated."""
    cost = angle_weight * angle.square() + vel_weight * ang_vel.square() + torque_weight * action.square()
    return torch.exp(-cost)


def compute_pendulum_done(
    angle: torch.Tensor, episode_step: torch.Tensor, max_episode_steps: int, fail_angle: float | None
) -> torch.Tensor:
    """(N,) DoneFlags: FAIL once tipped past `fail_angle` (if set), else TIME at the episode length."""
    done = torch.where(episode_step >= max_episode_steps, DoneFlags.TIME.value, DoneFlags.NULL.value)
    if fail_angle is not None:
        done = torch.where(angle.abs() > fail_angle, DoneFlags.FAIL.value, done)
    return done


class PendulumEnv(BaseEnv):
    """Actions in [-1, 1] scale the motor torque (`max_torque` N m); `control_dt` is a multiple of the MJCF
    timestep. Initial angle and velocity are uniform in +-`init_angle_range` and +-`init_vel_range`, drawn
    from torch's global generator (so checkpoints that hold the RNG state resume exactly)."""

    def __init__(
        self,
        num_envs: int = 64,
        device: str = "cpu",
        episode_length: float = 10.0,
        control_dt: float = 0.05,
        max_torque: float = 5.0,
        init_angle_range: float = 0.3,
        init_vel_range: float = 0.5,
        fail_angle: float | None = 1.0,
        angle_weight: float = 1.0,
        vel_weight: float = 0.1,
        torque_weight: float = 0.01,
        nthread: int = 1,
        model_file: str = DEFAULT_MODEL_FILE,
    ):
        if num_envs <= 0:
            raise ValueError(f"num_envs must be positive, got {num_envs}")
        if not os.path.isfile(model_file):
            raise FileNotFoundError(f"pendulum MJCF not found: {model_file!r}")
        model = mujoco.MjModel.from_xml_path(model_file)
        model.actuator_gear[0, 0] = max_torque
        substeps = control_dt / model.opt.timestep
        if substeps < 1 or abs(substeps - round(substeps)) > 1e-6:
            raise ValueError(f"control_dt {control_dt} must be a multiple of the MJCF timestep {model.opt.timestep}")

        self.num_envs = num_envs
        self.device = torch.device(device)
        self.substeps = round(substeps)
        self.max_episode_steps = round(episode_length / control_dt)
        self.init_angle_range = init_angle_range
        self.init_vel_range = init_vel_range
        self.fail_angle = fail_angle
        self.reward_weights = dict(angle_weight=angle_weight, vel_weight=vel_weight, torque_weight=torque_weight)

        self._batch = mujoco.batch.Batch(model, nsim=num_envs, nthread=nthread)
        # live float64 views of the simulation rows: writes go straight into MuJoCo's state
        self._qpos = torch.from_numpy(self._batch.bind("qpos"))
        self._qvel = torch.from_numpy(self._batch.bind("qvel"))
        self._ctrl = torch.from_numpy(self._batch.bind("ctrl"))
        self.episode_step = torch.zeros(num_envs, dtype=torch.long, device=self.device)
        self.reset()

    @property
    def obs_dim(self) -> int:
        return 3

    @property
    def action_dim(self) -> int:
        return 1

    @property
    def action_bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        ones = torch.ones(1, device=self.device)
        return -ones, ones

    def reset(self, env_ids: torch.Tensor | None = None) -> torch.Tensor:
        if env_ids is None:
            env_ids = torch.arange(self.num_envs, device=self.device)
        if env_ids.numel() > 0:
            n = env_ids.numel()
            angle = (2.0 * torch.rand(n, device=self.device) - 1.0) * self.init_angle_range
            ang_vel = (2.0 * torch.rand(n, device=self.device) - 1.0) * self.init_vel_range
            ids = env_ids.cpu()
            self._batch.reset(ids.numpy(), stage=mujoco.mjtStage.mjSTAGE_NONE)
            self._qpos[ids, 0] = angle.cpu().double()
            self._qvel[ids, 0] = ang_vel.cpu().double()
            self.episode_step[env_ids] = 0
        return self._observations()

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        if tuple(actions.shape) != (self.num_envs, 1):
            raise ValueError(f"actions: expected shape {(self.num_envs, 1)}, got {tuple(actions.shape)}")
        action = torch.clamp(actions, -1.0, 1.0)
        self._ctrl.copy_(action.detach().cpu())
        self._batch.step(nstep=self.substeps)
        self.episode_step += 1

        angle, ang_vel = self._angle_and_velocity()
        reward = compute_pendulum_reward(angle, ang_vel, action[:, 0], **self.reward_weights)
        done = compute_pendulum_done(angle, self.episode_step, self.max_episode_steps, self.fail_angle)
        info = {"episode/angle_error": angle.abs(), "episode/upright": torch.cos(angle)}
        return compute_pendulum_obs(angle, ang_vel), reward, done, info

    def _angle_and_velocity(self) -> tuple[torch.Tensor, torch.Tensor]:
        angle = compute_wrapped_angle(self._qpos[:, 0].to(self.device, torch.float32))
        return angle, self._qvel[:, 0].to(self.device, torch.float32)

    def _observations(self) -> torch.Tensor:
        return compute_pendulum_obs(*self._angle_and_velocity())
