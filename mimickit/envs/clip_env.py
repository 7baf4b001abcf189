"""Character envs whose episodes start on the motion library's clips (reference state initialisation): DeepMimic,
ADD and AMP. Each env keeps its clip and the clip time its episode started at, updated in place."""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from mimickit.envs.char_env import CharEnv, StepT
from mimickit.sim.engine import Engine

if TYPE_CHECKING:
    from mimickit.anim.motion_lib import MotionLib


class ClipStartEnv(CharEnv[StepT]):
    def __init__(
        self,
        engine: Engine,
        motion_lib: MotionLib,
        rand_reset: bool,
        episode_length: float,
        contact_bodies: list[str],
        contact_height: float,
        action_scale: float,
        enable_early_termination: bool,
    ):
        """rand_reset: start at a uniform random time of a weight-sampled clip (else at the clip's start); the rest
        as `CharEnv`."""
        super().__init__(engine, episode_length, contact_bodies, contact_height, action_scale, enable_early_termination)
        self.motion_lib = motion_lib
        self.rand_reset = rand_reset
        self.motion_ids = torch.zeros(self.num_envs, dtype=torch.long, device=self.device)
        self.motion_time0 = torch.zeros(self.num_envs, device=self.device)

    def _reset_char_where(self, mask: torch.Tensor) -> None:
        """Reference state initialisation: start each episode at a random time of a random clip."""
        motion_ids = self.motion_lib.sample_motions(self.num_envs)
        times = self.motion_lib.sample_times(motion_ids) if self.rand_reset else torch.zeros_like(self.motion_time0)
        self._start_episodes_where(mask, motion_ids, times)

    def _start_episodes_where(self, mask: torch.Tensor, motion_ids: torch.Tensor, times: torch.Tensor) -> None:
        """Put the envs where `mask` is true on their clip's reference at the given times, (num_envs,) each;
        subclasses that keep more per episode (a discriminator history) extend it."""
        self.motion_ids.copy_(torch.where(mask, motion_ids, self.motion_ids))
        self.motion_time0.copy_(torch.where(mask, times, self.motion_time0))
        ref = self.motion_lib.calc_motion_frame(self.motion_ids, self.motion_time0, with_bodies=False)
        self.engine.set_state_where(mask, ref.char_state())
