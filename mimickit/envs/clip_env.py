"""Character envs whose episodes start on the motion library's clips (reference state initialisation): DeepMimic,
ADD and AMP. Each env keeps its clip and the clip time its episode started at, updated in place."""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from mimickit.envs.char_env import CharEnv, ContactForceSource, StepT
from mimickit.sim.engine import Engine

if TYPE_CHECKING:
    from mimickit.anim.motion_lib import MotionLib


def compute_name_mismatches(what: str, clips: list[str], engine: list[str]) -> list[str]:
    """Lines naming how two ordered name lists differ: names only one side has, then positions that disagree."""
    if clips == engine:
        return []
    only_clips = [n for n in clips if n not in engine]
    only_engine = [n for n in engine if n not in clips]
    lines = [f"{what}: the clips' character has {len(clips)}, the engine's {len(engine)}"]
    if only_clips:
        lines.append(f"  {what} only the clips' character has: {only_clips}")
    if only_engine:
        lines.append(f"  {what} only the engine's character has: {only_engine}")
    if not only_clips and not only_engine:
        moved = [f"{i}: {a} (clips) vs {b} (engine)" for i, (a, b) in enumerate(zip(clips, engine)) if a != b]
        lines.append(f"  same names in another order; first differences: {moved[:5]}")
    return lines


def check_same_character(engine: Engine, motion_lib: MotionLib) -> None:
    """The clips' character must be the simulated one, body for body and DoF for DoF, in the same order (envs index
    both with the same ids): a clear error naming what differs, at start."""
    lines = compute_name_mismatches("bodies", list(motion_lib.body_names), list(engine.body_names))
    lines += compute_name_mismatches("joints", list(motion_lib.character.dof_names), list(engine.dof_names))
    if lines:
        raise ValueError(
            f"the motion library's character ({motion_lib.character.mjcf_file}) is not the simulated one "
            f"({engine.mjcf}); clips must be made for the robot (robot=..., motion=... of the same character):\n"
            + "\n".join(lines)
        )


class ClipStartEnv(CharEnv[StepT]):
    def __init__(
        self,
        engine: Engine,
        motion_lib: MotionLib,
        rand_reset: bool,
        episode_length: float,
        contact_bodies: list[str],
        contact_height: float | None,
        contact_force_source: ContactForceSource,
        contact_force_threshold: float,
        action_scale: float,
        enable_early_termination: bool,
    ):
        """rand_reset: start at a uniform random time of a weight-sampled clip (else at the clip's start); the rest
        as `CharEnv`."""
        super().__init__(engine, episode_length, contact_bodies, contact_height, contact_force_source,
                         contact_force_threshold, action_scale, enable_early_termination)
        check_same_character(engine, motion_lib)
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
