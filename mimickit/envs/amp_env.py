"""AMP (Peng et al. 2021): the env side of adversarial motion priors.

The character starts each episode on a random frame of a weight-sampled clip and is then free: there is no
reference to follow and the env reward is 0. Style comes from a discriminator the agent trains on `disc_obs`
windows, the simulated character's (`info["disc_obs"]` after every step) against clip windows
(`fetch_demo_disc_obs`), both built by `mimickit.envs.disc_obs.compute_disc_obs`. Episodes end on a fall or a
time-out, never with the clip. Values follow MimicKit's `amp_env.py` and `amp_humanoid_env.yaml`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from mimickit.anim import rotations as rot
from mimickit.anim.kinematics import KinematicCharacter
from mimickit.envs.char_env import ContactForceSource
from mimickit.envs.clip_env import ClipStartEnv
from mimickit.envs.disc_obs import (
    DiscHistory,
    compute_disc_obs,
    disc_obs_frame_size,
    engine_disc_frame,
    motion_disc_frames,
)
from mimickit.sim.engine import Engine

if TYPE_CHECKING:
    from mimickit.anim.motion_lib import MotionLib


def character_on(motion_lib: MotionLib, device: torch.device) -> KinematicCharacter:
    """The clips' kinematic character with its tensors on `device` (the motion library keeps its own on the CPU)."""
    character = motion_lib.character
    if character.device == torch.device(device):
        return character
    return KinematicCharacter(character.mjcf_file, device=device)


class AMPEnv(ClipStartEnv[None]):
    """Free character with reference state initialisation and a discriminator-observation history.

    Contract for the agent: `disc_obs_dim`; `step` returns `info["disc_obs"]` (num_envs, disc_obs_dim) of the state
    after the step (before any reset); `fetch_demo_disc_obs(n)` returns (n, disc_obs_dim) clip windows;
    `reset`/`reset_done` refill the history of the reset envs with the clip frames ending at their start time.
    """

    def __init__(
        self,
        engine: Engine,
        motion_lib: MotionLib,
        episode_length: float,
        contact_bodies: list[str],
        key_bodies: list[str],
        contact_height: float | None,
        contact_force_source: ContactForceSource,
        contact_force_threshold: float,
        action_scale: float,
        enable_early_termination: bool,
        global_obs: bool,
        root_height_obs: bool,
        num_disc_obs_steps: int,
        rand_reset: bool,
    ):
        """key_bodies: bodies whose root-relative positions both the policy and the discriminator see;
        global_obs: world-frame root rotation, velocities and body offsets in both observations (else heading
        frame); root_height_obs: include the root height; num_disc_obs_steps: control frames per disc window;
        rand_reset: start at a uniform random clip time (else at 0). The rest as `CharEnv`."""
        super().__init__(engine, motion_lib, rand_reset, episode_length, contact_bodies, contact_height,
                         contact_force_source, contact_force_threshold, action_scale, enable_early_termination)
        self.character = character_on(motion_lib, self.device)
        self.key_body_ids = torch.tensor(engine.body_ids(key_bodies), dtype=torch.long, device=self.device)
        self.global_obs = global_obs
        self.root_height_obs = root_height_obs
        self.num_disc_obs_steps = num_disc_obs_steps
        self.disc_history = DiscHistory(self._sim_disc_frame(), num_disc_obs_steps)

    # ---- discriminator contract ----
    @property
    def disc_obs_dim(self) -> int:
        c = self.character
        frame = disc_obs_frame_size(c.num_joints, len(self.key_body_ids), c.num_dofs, self.root_height_obs)
        return self.num_disc_obs_steps * frame

    def disc_obs(self) -> torch.Tensor:
        """(num_envs, disc_obs_dim) of the current history (what the last step returned, or the reset windows)."""
        return compute_disc_obs(
            self.disc_history.frames, global_obs=self.global_obs, root_height_obs=self.root_height_obs
        )

    def fetch_demo_disc_obs(self, num_samples: int) -> torch.Tensor:
        """(num_samples, disc_obs_dim) windows of clips drawn by weight, ending at uniform random times."""
        motion_ids = self.motion_lib.sample_motions(num_samples)
        return self.compute_demo_disc_obs(motion_ids, self.motion_lib.sample_times(motion_ids))

    def compute_demo_disc_obs(self, motion_ids: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        """(n, disc_obs_dim) windows of the given clips ending at the given times (n,)."""
        return compute_disc_obs(self._demo_frames(motion_ids, times), global_obs=self.global_obs,
                                root_height_obs=self.root_height_obs)

    def _demo_frames(self, motion_ids: torch.Tensor, times: torch.Tensor):
        return motion_disc_frames(self.motion_lib, self.character, motion_ids, times, self.num_disc_obs_steps,
                                  self.dt, self.key_body_ids)

    def _sim_disc_frame(self):
        return engine_disc_frame(self.engine, self.character, self.key_body_ids)

    # ---- episode ----
    def _start_episodes_where(self, mask: torch.Tensor, motion_ids: torch.Tensor, times: torch.Tensor) -> None:
        """Reference state initialisation, and the history filled with the clip frames ending at the start time."""
        super()._start_episodes_where(mask, motion_ids, times)
        self.disc_history.fill_where(mask, self._demo_frames(self.motion_ids, self.motion_time0))

    def _post_physics_step(self) -> None:
        """Record the new state in the discriminator history; no reference, so no per-step record."""
        self.disc_history.push(self._sim_disc_frame())

    def _compute_obs(self) -> torch.Tensor:
        e = self.engine
        return compute_amp_char_obs(
            root_pos=e.root_pos(),
            root_rot=e.root_rot(),
            root_lin_vel=e.root_lin_vel(),
            root_ang_vel=e.root_ang_vel(),
            joint_rot=self.character.dof_to_joint_rot(e.dof_pos()),
            dof_vel=e.dof_vel(),
            key_pos=e.body_pos()[:, self.key_body_ids],
            global_obs=self.global_obs,
            root_height_obs=self.root_height_obs,
        )

    def _compute_reward(self, step: None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """No task: the agent's reward comes from the discriminator."""
        return torch.zeros(self.num_envs, device=self.device), {}

    def _compute_info(self, step: None, reward_terms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The disc obs, and the root's ground speed (m/s), whose episode mean shows whether the character moves at
        the clips' speeds (there is no reference to track)."""
        return {"disc_obs": self.disc_obs(), "episode/root_speed": self.engine.root_lin_vel()[:, :2].norm(dim=-1)}


def compute_amp_char_obs(
    root_pos: torch.Tensor,
    root_rot: torch.Tensor,
    root_lin_vel: torch.Tensor,
    root_ang_vel: torch.Tensor,
    joint_rot: torch.Tensor,
    dof_vel: torch.Tensor,
    key_pos: torch.Tensor,
    global_obs: bool,
    root_height_obs: bool,
) -> torch.Tensor:
    """MimicKit's character observation (`char_env.compute_char_obs`): root height (if `root_height_obs`), root
    rotation (6D), root linear and angular velocity, joint rotations (6D each), DoF velocities and key-body positions
    relative to the root. `global_obs` keeps the root rotation, velocities and key offsets in the world frame,
    otherwise they are in the root's heading frame.

    Shapes: root (N, 3|4), joint_rot (N, J, 4), dof_vel (N, D), key_pos (N, K, 3). Returns (N, 1+6+3+3+6J+D+3K)."""
    key_pos = key_pos - root_pos.unsqueeze(-2)
    if not global_obs:
        heading_inv = rot.heading_quat_inv(root_rot)
        root_rot = rot.quat_mul(heading_inv, root_rot)
        root_lin_vel = rot.quat_rotate(heading_inv, root_lin_vel)
        root_ang_vel = rot.quat_rotate(heading_inv, root_ang_vel)
        key_pos = rot.quat_rotate(heading_inv.unsqueeze(-2).expand(*key_pos.shape[:-1], 4), key_pos)
    parts = [root_pos[:, 2:3]] if root_height_obs else []
    parts += [
        rot.quat_to_tan_norm(root_rot),
        root_lin_vel,
        root_ang_vel,
        rot.quat_to_tan_norm(joint_rot).flatten(-2),
        dof_vel,
        key_pos.flatten(-2),
    ]
    return torch.cat(parts, dim=-1)
