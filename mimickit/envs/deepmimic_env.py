"""DeepMimic motion tracking (Peng et al. 2018): imitate reference clips with an imitation reward,
reference state initialisation and early termination."""
from __future__ import annotations

from typing import Annotated, NamedTuple

import torch

from mimickit.anim.motion_lib import MotionFrame, MotionLib
from mimickit.config import KeysIn, KwargsOf
from mimickit.envs import rewards
from mimickit.envs.base_env import DoneFlags
from mimickit.envs.char_env import ContactForceSource
from mimickit.envs.clip_env import ClipStartEnv
from mimickit.envs.observations import compute_phase_obs, compute_target_obs
from mimickit.sim.engine import Engine

# The YAML `reward:` table, `{term: {weight, scale}}` over the terms of `rewards.IMITATION_TERMS`.
ImitationRewardTable = Annotated[
    dict[str, Annotated[dict, KwargsOf(rewards.RewardTerm)]], KeysIn(tuple(rewards.IMITATION_TERMS), "reward term")
]


POSE_TERMINATION_METRICS = ("mean", "max")  # over bodies, of the distance to the reference


class TrackingStep(NamedTuple):
    """What one step's reward, termination and info read: the simulated character and its reference at the step's
    motion time, and how far apart they are."""

    sim: MotionFrame  # the engine's state after the step (bodies included, no body velocities)
    ref: MotionFrame  # the reference frame, bodies included
    tracking_error: torch.Tensor  # (N,) mean body position error, metres


class DeepMimicEnv(ClipStartEnv[TrackingStep]):
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
        ref_contact_height: float | None,
        action_scale: float,
        enable_early_termination: bool,
        pose_termination: bool,
        pose_termination_dist: float,
        pose_termination_metric: str,
        tar_obs_steps: list[int],
        enable_phase_obs: bool,
        rand_reset: bool,
        reward: ImitationRewardTable,
    ):
        """reward: the imitation reward's table, `{term: {weight, scale}}` for terms of `rewards.IMITATION_TERMS`,
        summed in its order; a term of weight 0 or null is not computed. ref_contact_height: a body whose reference
        has its frame origin below this (m) may touch the ground, as the clip does (getups, rolls, crawls; None: only
        `contact_bodies`). The rest as in conf/env/deepmimic.yaml."""
        super().__init__(engine, motion_lib, rand_reset, episode_length, contact_bodies, contact_height,
                         contact_force_source, contact_force_threshold, action_scale, enable_early_termination)
        self.key_body_ids = torch.tensor(engine.body_ids(key_bodies), device=self.device)
        self.parents = torch.as_tensor(motion_lib.body_parents, device=self.device)
        if ref_contact_height is not None and ref_contact_height < 0:
            raise ValueError(f"ref_contact_height must be >= 0 or null, got {ref_contact_height}")
        self.ref_contact_height = ref_contact_height
        self.pose_termination = pose_termination
        self.pose_termination_dist = pose_termination_dist
        if pose_termination_metric not in POSE_TERMINATION_METRICS:
            raise ValueError(f"pose_termination_metric must be one of {POSE_TERMINATION_METRICS}, got "
                             f"{pose_termination_metric!r}")
        self.pose_termination_metric = pose_termination_metric
        self.tar_obs_steps = torch.tensor(tar_obs_steps, dtype=torch.float32, device=self.device)
        self.enable_phase_obs = enable_phase_obs
        self.reward_table = rewards.reward_table(reward, rewards.IMITATION_TERMS)
        self.tracked_bodies = rewards.TrackedBodies(parents=self.parents, key_body_ids=self.key_body_ids)

    # ---- reference ----
    def _motion_time(self) -> torch.Tensor:
        return self.motion_time0 + self.episode_step.float() * self.dt

    def reset_to(
        self, motion_ids: torch.Tensor, times: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Start new episodes at given clips and times instead of sampled ones (an evaluation's starts).

        motion_ids, times: (num_envs,) clip index and time in it (s) for each env; mask: (num_envs,) bool, the envs to
        reset (all when None; the others keep their episodes). Returns the (num_envs, obs_dim) observation. Nothing
        waits for the device: the ids are not range-checked."""
        n = self.num_envs
        if motion_ids.shape != (n,) or times.shape != (n,) or (mask is not None and mask.shape != (n,)):
            shapes = [tuple(t.shape) for t in (motion_ids, times) + ((mask,) if mask is not None else ())]
            raise ValueError(f"reset_to takes ({n},) motion_ids, times and mask, got {shapes}")
        if mask is None:
            mask = torch.ones(n, dtype=torch.bool, device=self.device)
        mask = mask.to(self.device, torch.bool)
        self._begin_episodes_where(mask)
        self._start_episodes_where(mask, motion_ids.to(self.device, torch.long), times.to(self.device, torch.float32))
        return self._observe()

    def reference_pose(self) -> MotionFrame:
        """The reference every env tracks, at its current time (a viewer draws it as a ghost)."""
        return self.motion_lib.calc_motion_frame(self.motion_ids, self._motion_time(), with_bodies=False)

    def _post_physics_step(self) -> TrackingStep:
        """The reference at the new motion time (one query per step), against the simulated character."""
        sim, ref = self.tracking_frames()
        return TrackingStep(sim, ref, rewards.compute_tracking_error(sim.body_pos, ref.body_pos))

    def tracking_frames(self) -> tuple[MotionFrame, MotionFrame]:
        """The simulated character and its reference at each env's current motion time, bodies included (the pair a
        step's reward compares, and an evaluation measures). The first holds the engine's views of its state."""
        return self._sim_frame(), self.motion_lib.calc_motion_frame(self.motion_ids, self._motion_time())

    def _sim_frame(self) -> MotionFrame:
        """The engine's character state in the reference's record."""
        e = self.engine
        return MotionFrame(
            root_pos=e.root_pos(),
            root_rot=e.root_rot(),
            root_lin_vel=e.root_lin_vel(),
            root_ang_vel=e.root_ang_vel(),
            dof_pos=e.dof_pos(),
            dof_vel=e.dof_vel(),
            body_pos=e.body_pos(),
            body_rot=e.body_rot(),
        )

    # ---- observation ----
    def _compute_obs(self) -> torch.Tensor:
        e = self.engine
        motion_time = self._motion_time()
        n, steps, b = self.num_envs, self.tar_obs_steps.numel(), e.num_bodies
        tar = self.motion_lib.calc_motion_frame(
            self.motion_ids.unsqueeze(1).expand(-1, steps).reshape(-1),
            (motion_time.unsqueeze(1) + self.tar_obs_steps * self.dt).reshape(-1),
        )
        tar_obs = compute_target_obs(
            e.root_pos(), e.root_rot(), tar.body_pos.reshape(n, steps, b, 3), tar.body_rot.reshape(n, steps, b, 4)
        )
        parts = [self._char_obs(), tar_obs]
        if self.enable_phase_obs:
            phase = motion_time / self.motion_lib.get_motion_length(self.motion_ids)
            parts.append(compute_phase_obs(torch.remainder(phase, 1.0)))
        return torch.cat(parts, dim=-1)

    # ---- reward ----
    def _compute_reward(self, step: TrackingStep) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        terms = rewards.compute_reward_terms(step.sim, step.ref, self.reward_table, self.tracked_bodies)
        return rewards.compute_weighted_sum(terms, self.reward_table, like=step.tracking_error), terms

    # ---- termination ----
    def _compute_failure(self, step: TrackingStep) -> torch.Tensor:
        failed = super()._compute_failure(step)
        if self.pose_termination:
            failed = failed | (self._pose_distance(step) > self.pose_termination_dist)
        return failed

    def _fall_body_mask(self, step: TrackingStep) -> torch.Tensor:
        if self.ref_contact_height is None:
            return self.fall_body_mask
        return self.fall_body_mask & (step.ref.body_pos[..., 2] >= self.ref_contact_height)

    def _pose_distance(self, step: TrackingStep) -> torch.Tensor:
        """(N,) the distance pose termination compares: the mean body error (the tracking error), or the farthest
        body's (MimicKit's rule: a wrong orientation alone moves some body far from its reference)."""
        if self.pose_termination_metric == "mean":
            return step.tracking_error
        return (step.sim.body_pos - step.ref.body_pos).norm(dim=-1).amax(dim=-1)

    def _compute_done(self, step: TrackingStep, unstable: torch.Tensor) -> torch.Tensor:
        """Clamped (non-looping) clips also end, as a time-out, when the reference runs out."""
        done = super()._compute_done(step, unstable)
        clip_over = (~self.motion_lib.is_wrapping(self.motion_ids)) & (
            self._motion_time() >= self.motion_lib.get_motion_length(self.motion_ids)
        )
        return torch.where(clip_over & (done == DoneFlags.NULL), DoneFlags.TIME.value, done)

    def _compute_info(self, step: TrackingStep, reward_terms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        mpjpe = rewards.compute_root_relative_tracking_error(step.sim.body_pos, step.ref.body_pos)
        return {"episode/tracking_error": step.tracking_error, "episode/mpjpe": mpjpe,
                **super()._compute_info(step, reward_terms)}
