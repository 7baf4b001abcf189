"""ADD (adversarial differential discriminators): DeepMimic's tracking env whose discriminator compares the
simulated character with its own reference at the same time.

Everything DeepMimic does is kept (policy observation with target frames, reference advanced every step, imitation
reward, DeepMimic's terminations including pose termination). Each step adds `info["disc_obs"]` (the simulated
character) and `info["disc_obs_demo"]` (its reference clip at the same motion time), both built by
`mimickit.envs.disc_obs.compute_disc_obs` over all bodies; the agent's discriminator sees their difference.
Values follow MimicKit's `add_env.py` and `add_humanoid_env.yaml`.
"""
from __future__ import annotations

import functools

import torch

from mimickit.envs.amp_env import character_on
from mimickit.envs.deepmimic_env import DeepMimicEnv, TrackingStep
from mimickit.envs.disc_obs import (
    DiscFrames,
    DiscHistory,
    compute_disc_obs,
    disc_obs_frame_parts,
    disc_obs_frame_size,
    engine_disc_frame,
    motion_disc_frames,
)


class ADDEnv(DeepMimicEnv):
    """DeepMimicEnv plus paired discriminator observations.

    Contract for the agent: `disc_obs_dim`; `step` returns `info["disc_obs"]` and `info["disc_obs_demo"]`, each
    (num_envs, disc_obs_dim), of the state after the step (before any reset) and of the reference at that time;
    when the character is exactly on its reference the two are equal. The env reward is DeepMimic's imitation
    reward (MimicKit's ADD env returns 0 and trains with task_reward_weight 0).
    """

    def __init__(self, global_obs: bool, world_body_pos: bool, root_height_obs: bool, num_disc_obs_steps: int,
                 **deepmimic_kwargs):
        """global_obs: world-frame discriminator frames with the root position in world coordinates (else each
        window in its newest frame's heading frame, root x, y relative); world_body_pos: body positions in world
        coordinates too (MimicKit: relative to the root), so that the root's offset from the reference shows in
        every body's difference (needs global_obs); root_height_obs: include the root height; num_disc_obs_steps:
        control frames per window (1 in every MimicKit ADD config). `deepmimic_kwargs` are `DeepMimicEnv`'s
        (engine, motion_lib, episode_length, ...)."""
        if world_body_pos and not global_obs:
            raise ValueError("env.world_body_pos needs env.global_obs=true (world-frame discriminator frames)")
        super().__init__(**deepmimic_kwargs)
        self.character = character_on(self.motion_lib, self.device)
        self.global_obs = global_obs
        self.world_body_pos = world_body_pos
        self.root_height_obs = root_height_obs
        self.num_disc_obs_steps = num_disc_obs_steps
        self.disc_body_ids = torch.arange(self.engine.num_bodies, device=self.device)
        self.disc_history = DiscHistory(self._sim_disc_frame(), num_disc_obs_steps)

    @property
    def disc_obs_dim(self) -> int:
        c = self.character
        frame = disc_obs_frame_size(c.num_joints, len(self.disc_body_ids), c.num_dofs, self.root_height_obs)
        return self.num_disc_obs_steps * frame

    @functools.cached_property
    def disc_obs_parts(self) -> dict[str, torch.Tensor]:
        """Each part of the discriminator observation (`disc_obs_frame_parts`) -> its indices in every frame."""
        c = self.character
        sizes = disc_obs_frame_parts(c.num_joints, len(self.disc_body_ids), c.num_dofs, self.root_height_obs)
        frame, start, parts = sum(sizes.values()), 0, {}
        for name, size in sizes.items():
            parts[name] = torch.cat([torch.arange(f * frame + start, f * frame + start + size, device=self.device)
                                     for f in range(self.num_disc_obs_steps)])
            start += size
        return parts

    def disc_obs(self) -> torch.Tensor:
        """(num_envs, disc_obs_dim) of the simulated character's current history."""
        return self._disc_obs(self.disc_history.frames)

    def disc_obs_demo(self) -> torch.Tensor:
        """(num_envs, disc_obs_dim) of each env's reference window ending at the current motion time."""
        return self._disc_obs(self._ref_frames(self._motion_time()))

    def _disc_obs(self, frames: DiscFrames) -> torch.Tensor:
        return compute_disc_obs(
            frames, global_obs=self.global_obs, root_height_obs=self.root_height_obs, world_root_pos=self.global_obs,
            world_body_pos=self.world_body_pos,
        )

    def _ref_frames(self, times: torch.Tensor) -> DiscFrames:
        return motion_disc_frames(self.motion_lib, self.character, self.motion_ids, times, self.num_disc_obs_steps,
                                  self.dt, self.disc_body_ids)

    def _sim_disc_frame(self) -> DiscFrames:
        return engine_disc_frame(self.engine, self.character, self.disc_body_ids)

    def _start_episodes_where(self, mask: torch.Tensor, motion_ids: torch.Tensor, times: torch.Tensor) -> None:
        super()._start_episodes_where(mask, motion_ids, times)
        self.disc_history.fill_where(mask, self._ref_frames(self.motion_time0))

    def _post_physics_step(self) -> TrackingStep:
        step = super()._post_physics_step()
        self.disc_history.push(self._sim_disc_frame())
        return step

    def _compute_info(self, step: TrackingStep, reward_terms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        info = super()._compute_info(step, reward_terms)
        info["disc_obs"] = self.disc_obs()
        info["disc_obs_demo"] = self.disc_obs_demo()
        return info
