"""A simulated character driven by joint-space actions: the part every character task shares."""
from __future__ import annotations

import abc
import enum
from typing import Generic, TypeVar

import torch

from mimickit.envs.base_env import BaseEnv, DoneFlags
from mimickit.envs.observations import compute_char_obs
from mimickit.envs.randomization import DomainRandomizer
from mimickit.sim.engine import Engine, check_env_ids

StepT = TypeVar("StepT")  # what one step's reward, termination and info read (a subclass's record, or None)


class ContactForceSource(str, enum.Enum):
    """Which contact forces the fall test reads (`CharEnv`)."""

    all = "all"  # the net force of every contact on the body, floor and self contacts (`Engine.contact_forces`)
    floor = "floor"  # the body's contacts with the floor only (`Engine.floor_contact_forces`), as MimicKit


def compute_fall(
    body_pos: torch.Tensor,
    contact_forces: torch.Tensor,
    fall_body_mask: torch.Tensor,
    contact_height: float | None,
    threshold: float = 1.0,
    any_component: bool = False,
) -> torch.Tensor:
    """A body that may not touch the ground (torso, head, arms ...) is in contact, (N,) bool: its force norm (or,
    with `any_component`, any component's magnitude, MimicKit's test) exceeds `threshold` N, while its frame origin
    is below `contact_height` (None: at any height). `fall_body_mask`: (B,) the bodies that may not, or (N, B) per
    env."""
    if any_component:
        touching = (contact_forces.abs() > threshold).any(dim=-1)
    else:
        touching = contact_forces.norm(dim=-1) > threshold
    fallen = touching & fall_body_mask
    if contact_height is not None:
        fallen = fallen & (body_pos[..., 2] < contact_height)
    return fallen.any(dim=-1)


class CharEnv(BaseEnv, Generic[StepT], abc.ABC):
    """Episode bookkeeping, action -> PD target mapping, character observations and fall detection.

    Actions live in [-1, 1] per DoF: 0 is the character's rest pose (a zero action holds it upright, where the
    middle of a joint range would bend knees and elbows), and +-1 reaches `action_scale` x the farther joint limit;
    targets are clamped to the joint range.
    Subclasses choose the initial states (`_reset_char_where`), the task observation and the reward.

    One step (`_step`) reads top to bottom: actions and physics; `_post_physics_step`, which advances the task state
    kept across steps (in place) and returns this step's `StepT` record (DeepMimic's: the simulated and reference
    frames and the tracking error); then the reward (total and named terms), the termination and the info, each
    given that record, the info also the terms. Per-step values are passed, never left in attributes: what persists
    across steps is only the tensors updated in place (episode_step, the subclass's), as a CUDA graph replay needs.
    """

    def __init__(
        self,
        engine: Engine,
        episode_length: float,
        contact_bodies: list[str],
        contact_height: float | None,
        contact_force_source: ContactForceSource,
        contact_force_threshold: float,
        action_scale: float,
        enable_early_termination: bool,
    ):
        """A fall (`compute_fall`): a body other than `contact_bodies` whose contact force from
        `contact_force_source` exceeds `contact_force_threshold` N (force norm for "all"; any component, MimicKit's
        test, for "floor"), with its frame origin below `contact_height` m (None: any height). Ends the episode with
        `enable_early_termination`."""
        self.engine = engine
        self.num_envs = engine.num_envs
        self.device = engine.device
        self.dt = engine.control_dt
        self.max_episode_steps = int(round(episode_length / self.dt))
        self.enable_early_termination = enable_early_termination
        self.contact_height = contact_height
        self.contact_force_source = ContactForceSource(contact_force_source)
        if contact_force_threshold < 0:
            raise ValueError(f"contact_force_threshold must be >= 0, got {contact_force_threshold}")
        self.contact_force_threshold = contact_force_threshold
        if self.contact_force_source == ContactForceSource.floor:
            engine.enable_floor_contact_forces()  # before any step (the CPU engine adds sensors to its model)
        self.action_scale = action_scale

        contact_ids = engine.body_ids(contact_bodies)
        self.fall_body_mask = torch.ones(engine.num_bodies, dtype=torch.bool, device=self.device)
        self.fall_body_mask[contact_ids] = False

        low, high = engine.dof_limits
        self._dof_low, self._dof_high = low, high
        self._action_offset = torch.zeros_like(low).clamp(low, high)
        self._action_scale = torch.maximum(high - self._action_offset, self._action_offset - low) * action_scale

        self.episode_step = torch.zeros(self.num_envs, dtype=torch.long, device=self.device)
        self._obs_dim: int | None = None
        self.randomizer: DomainRandomizer | None = None  # domain randomisation, see `use_randomizer`
        # the per-step work, as the engine runs it fastest (one CUDA graph each on the GPU engine)
        self._graphed_step = engine.graphed(self._step)
        self._graphed_reset_done = engine.graphed(self._reset_done)

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
        if self._obs_dim is None:
            self._obs_dim = self._compute_obs().shape[-1]
        return self._obs_dim

    @property
    def num_unstable_resets(self) -> int:
        return self.engine.num_unstable_resets

    def reset(self, env_ids: torch.Tensor | None = None) -> torch.Tensor:
        mask = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        if env_ids is not None:
            ids = check_env_ids(env_ids, self.num_envs, self.device)
            mask = torch.zeros_like(mask).index_fill_(0, ids, True)
        self._reset_where(mask)
        return self._observe()

    def reset_done(self, done: torch.Tensor) -> torch.Tensor:
        return self._graphed_reset_done(done)

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        return self._graphed_step(actions)

    def use_randomizer(self, randomizer: DomainRandomizer) -> None:
        """Randomise this env's physics, actions and observations (mimickit.envs.randomization) from the next reset
        on; before the first step, as the composition root does."""
        if randomizer.engine is not self.engine:
            raise ValueError("the randomizer must be built on this env's engine")
        self.randomizer = randomizer

    def actions_to_targets(self, actions: torch.Tensor) -> torch.Tensor:
        return torch.clamp(self._action_offset + self._action_scale * actions, self._dof_low, self._dof_high)

    # ---- the per-step work: fixed shapes, state updated in place, nothing that waits for the device ----
    def _step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        if self.randomizer is not None:
            actions = self.randomizer.delay_actions(actions)
        self.engine.set_actions(self.actions_to_targets(actions))
        self.engine.step()
        self.episode_step += 1
        step = self._post_physics_step()
        unstable = self.engine.pop_unstable_mask()
        reward, reward_terms = self._compute_reward(step)
        done = self._compute_done(step, unstable)
        reward = torch.where(unstable, torch.zeros_like(reward), reward)
        if self.randomizer is None:
            return self._compute_obs(), reward, done, self._compute_info(step, reward_terms)
        info = self._compute_info(step, reward_terms)  # of the state the step reached, before a push changes it
        self.randomizer.push()
        return self._observe(), reward, done, info

    def _reset_done(self, done: torch.Tensor) -> torch.Tensor:
        """Re-initialise the envs whose episode ended; observations of all envs (the others' are unchanged)."""
        self._reset_where(done != DoneFlags.NULL)
        return self._observe()

    def _reset_where(self, mask: torch.Tensor) -> None:
        self._begin_episodes_where(mask)
        self._reset_char_where(mask)

    def _begin_episodes_where(self, mask: torch.Tensor) -> None:
        """Episode step 0 and, with a randomizer, new physics, push times and delays for the envs where `mask` is
        true; before their character state is set."""
        self.episode_step.masked_fill_(mask, 0)
        if self.randomizer is not None:
            self.randomizer.reset_where(mask)

    def _observe(self) -> torch.Tensor:
        """The policy's observation: `_compute_obs`, with the randomizer's noise."""
        obs = self._compute_obs()
        return obs if self.randomizer is None else self.randomizer.add_obs_noise(obs)

    # ---- shared pieces ----
    def _char_obs(self) -> torch.Tensor:
        e = self.engine
        return compute_char_obs(
            e.root_pos(), e.root_rot(), e.body_pos(), e.body_rot(), e.body_lin_vel(), e.body_ang_vel()
        )

    def _compute_done(self, step: StepT, unstable: torch.Tensor) -> torch.Tensor:
        failed = unstable | self._compute_failure(step) if self.enable_early_termination else unstable
        done = torch.full_like(self.episode_step, DoneFlags.NULL)
        done = torch.where(self.episode_step >= self.max_episode_steps, DoneFlags.TIME.value, done)
        return torch.where(failed, DoneFlags.FAIL.value, done)

    def _compute_failure(self, step: StepT) -> torch.Tensor:
        e = self.engine
        floor = self.contact_force_source == ContactForceSource.floor
        forces = e.floor_contact_forces() if floor else e.contact_forces()
        return compute_fall(e.body_pos(), forces, self._fall_body_mask(step), self.contact_height,
                            self.contact_force_threshold, any_component=floor)

    def _fall_body_mask(self, step: StepT) -> torch.Tensor:
        """The bodies whose ground contact is a fall this step: (B,), or (N, B) when it depends on the env."""
        return self.fall_body_mask

    def _compute_info(self, step: StepT, reward_terms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The step's info (`BaseEnv.step`); here each reward term as `episode/reward_<name>`."""
        return {f"episode/reward_{name}": value for name, value in reward_terms.items()}

    @abc.abstractmethod
    def _reset_char_where(self, mask: torch.Tensor) -> None:
        """Put the characters of the envs where `mask` is true in their initial states (`Engine.set_state_where`)."""

    @abc.abstractmethod
    def _compute_obs(self) -> torch.Tensor:
        """(num_envs, obs_dim) observations of the current state."""

    @abc.abstractmethod
    def _post_physics_step(self) -> StepT:
        """After the physics step: advance the task state kept across steps (in place, e.g. a discriminator history)
        and return what this step's reward, termination and info read."""

    @abc.abstractmethod
    def _compute_reward(self, step: StepT) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(num_envs,) total reward of the step and its named terms, each (num_envs,)."""
