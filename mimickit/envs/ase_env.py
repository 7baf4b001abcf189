"""ASE (Peng et al. 2022): the env side of adversarial skill embeddings, MimicKit's `ase_env.py`.

AMP's env (a free character, reference state initialisation, no env reward, `disc_obs` windows) with one change: a
share of the resets, `default_reset_prob`, put the character in the default standing pose at rest instead of on a
clip frame, so the policy also learns to start skills from standing. As in MimicKit, those envs keep the
discriminator history of the clip frames drawn for them. The latent skill codes belong to the agent
(`mimickit.agents.ase.ASEAgent`), which resamples them; the env does not see them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from mimickit.anim import rotations as rot
from mimickit.envs.amp_env import AMPEnv
from mimickit.envs.char_env import ContactForceSource
from mimickit.sim.engine import CharState, Engine

if TYPE_CHECKING:
    from mimickit.anim.motion_lib import MotionLib


def default_char_state(engine: Engine) -> CharState:
    """(num_envs, ...) the engine character's default pose (its `default_qpos`: the MJCF reference pose standing just
    above the floor) with every velocity zero."""
    qpos = torch.as_tensor(engine.character.default_qpos, dtype=torch.float32, device=engine.device)
    qpos = qpos.expand(engine.num_envs, -1)
    return CharState.at_rest(qpos[:, 0:3], rot.quat_from_wxyz(qpos[:, 3:7]), qpos[:, 7:])


class ASEEnv(AMPEnv):
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
        default_reset_prob: float,
    ):
        """default_reset_prob: probability that a reset starts the episode in the default pose at rest rather than on
        the sampled clip frame (MimicKit: 0.5). The rest as `AMPEnv`."""
        if not 0.0 <= default_reset_prob <= 1.0:
            raise ValueError(f"default_reset_prob must lie in [0, 1], got {default_reset_prob}")
        super().__init__(engine, motion_lib, episode_length, contact_bodies, key_bodies, contact_height,
                         contact_force_source, contact_force_threshold, action_scale, enable_early_termination, global_obs, root_height_obs, num_disc_obs_steps, rand_reset)
        self.default_reset_prob = default_reset_prob
        self._default_state = default_char_state(engine)

    def _reset_char_where(self, mask: torch.Tensor) -> None:
        """Reference state initialisation, then a random share of the reset envs moved to the default pose (drawn
        on the device for every env, so nothing waits for it)."""
        super()._reset_char_where(mask)
        to_default = mask & (torch.rand(self.num_envs, device=self.device) < self.default_reset_prob)
        self.engine.set_state_where(to_default, self._default_state)
