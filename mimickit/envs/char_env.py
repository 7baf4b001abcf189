"""A simulated character driven by joint-space actions: the part every character task shares."""
from __future__ import annotations

import abc

import torch

from mimickit.envs.base_env import BaseEnv, DoneFlags
from mimickit.envs.observations import compute_char_obs
from mimickit.sim.engine import Engine


def compute_fall(
    body_pos: torch.Tensor,
    contact_forces: torch.Tensor,
    fall_body_mask: torch.Tensor,
    contact_height: float,
) -> torch.Tensor:
    """A body that may not touch the ground (torso, head, arms ...) is in contact while near it, (N,) bool."""
    touching = contact_forces.norm(dim=-1) > 1.0
    low = body_pos[..., 2] < contact_height
    return (touching & low & fall_body_mask).any(dim=-1)


class CharEnv(BaseEnv, abc.ABC):
    """Episode bookkeeping, action -> PD target mapping, character observations and fall detection.

    Actions live in [-1, 1] per DoF: 0 is the character's rest pose (a zero action holds it upright, where the
    middle of a joint range would bend knees and elbows), and +-1 reaches `action_scale` x the farther joint limit;
    targets are clamped to the joint range.
    Subclasses choose the initial states (`_reset_char`), the task observation and the reward.
    """

    def __init__(
        self,
        engine: Engine,
        episode_length: float,
        contact_bodies: list[str],
        contact_height: float,
        action_scale: float,
        enable_early_termination: bool,
    ):
        self.engine = engine
        self.num_envs = engine.num_envs
        self.device = engine.device
        self.dt = engine.control_dt
        self.max_episode_steps = int(round(episode_length / self.dt))
        self.enable_early_termination = enable_early_termination
        self.contact_height = contact_height

        contact_ids = engine.body_ids(contact_bodies)
        self.fall_body_mask = torch.ones(engine.num_bodies, dtype=torch.bool, device=self.device)
        self.fall_body_mask[contact_ids] = False

        low, high = engine.dof_limits
        self._dof_low, self._dof_high = low, high
        self._action_offset = torch.zeros_like(low).clamp(low, high)
        self._action_scale = torch.maximum(high - self._action_offset, self._action_offset - low) * action_scale

        self.episode_step = torch.zeros(self.num_envs, dtype=torch.long, device=self.device)
        self.done = torch.zeros(self.num_envs, dtype=torch.long, device=self.device)
        self.num_unstable_resets = 0
        self._obs: torch.Tensor | None = None

    # ---- BaseEnv ----
    @property
    def action_dim(self) -> int:
        return self.engine.num_dofs

    @property
    def action_bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        ones = torch.ones(self.action_dim, device=self.device)
        return -ones, ones

    @property
    def obs_dim(self) -> int:
        if self._obs is None:
            self.reset()
        return self._obs.shape[-1]

    def reset(self, env_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Re-initialise the listed envs; only their rows of the observation are recomputed."""
        if env_ids is None or self._obs is None:
            env_ids = torch.arange(self.num_envs, device=self.device)
            self._reset_envs(env_ids)
            self._obs = self._compute_obs()
        elif env_ids.numel() > 0:
            self._reset_envs(env_ids)
            obs = self._obs.clone()  # the caller may still hold the previous observation
            obs[env_ids] = self._compute_obs(env_ids)
            self._obs = obs
        return self._obs

    def _reset_envs(self, env_ids: torch.Tensor) -> None:
        self.episode_step[env_ids] = 0
        self.done[env_ids] = DoneFlags.NULL
        self._reset_char(env_ids)

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        self.engine.set_actions(self.actions_to_targets(actions))
        self.engine.step()
        self.episode_step += 1
        self._post_physics_step()
        unstable = self._unstable_mask()
        reward = self._compute_reward()
        self.done = self._compute_done(unstable)
        reward = torch.where(unstable, torch.zeros_like(reward), reward)
        self._obs = self._compute_obs()
        return self._obs, reward, self.done, self._compute_info()

    def actions_to_targets(self, actions: torch.Tensor) -> torch.Tensor:
        return torch.clamp(self._action_offset + self._action_scale * actions, self._dof_low, self._dof_high)

    # ---- shared pieces ----
    def _unstable_mask(self) -> torch.Tensor:
        """Envs the engine had to reset because their simulation diverged; they end as failures."""
        ids = self.engine.pop_unstable_env_ids()
        mask = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        if ids.numel() > 0:
            mask[ids] = True
            self.num_unstable_resets += int(ids.numel())
        return mask

    def _char_obs(self, env_ids: torch.Tensor | slice) -> torch.Tensor:
        e = self.engine
        return compute_char_obs(
            e.root_pos()[env_ids],
            e.root_rot()[env_ids],
            e.body_pos()[env_ids],
            e.body_rot()[env_ids],
            e.body_lin_vel()[env_ids],
            e.body_ang_vel()[env_ids],
        )

    def _compute_done(self, unstable: torch.Tensor) -> torch.Tensor:
        failed = unstable | self._compute_failure() if self.enable_early_termination else unstable
        done = torch.full_like(self.episode_step, DoneFlags.NULL)
        done = torch.where(self.episode_step >= self.max_episode_steps, DoneFlags.TIME.value, done)
        return torch.where(failed, DoneFlags.FAIL.value, done)

    def _compute_failure(self) -> torch.Tensor:
        e = self.engine
        return compute_fall(e.body_pos(), e.contact_forces(), self.fall_body_mask, self.contact_height)

    def _post_physics_step(self) -> None:
        """Advance task state (e.g. reference time) after the physics step."""

    def _compute_info(self) -> dict:
        return {}

    @abc.abstractmethod
    def _reset_char(self, env_ids: torch.Tensor) -> None: ...

    @abc.abstractmethod
    def _compute_obs(self, env_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Observations of the listed envs (all when None)."""

    @abc.abstractmethod
    def _compute_reward(self) -> torch.Tensor: ...
