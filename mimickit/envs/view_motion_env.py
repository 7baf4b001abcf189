"""Kinematic playback of reference clips (`env=view_motion`): every step poses each env at its clip time and runs
only forward kinematics; nothing is simulated, so the engine can run with `control_mode: none`.

`mimickit.render.playback.play_motion` drives it for `mode=play`: an mp4 headless and/or MuJoCo's viewer.
"""
from __future__ import annotations

import torch

from mimickit.anim.motion_lib import MotionLib
from mimickit.envs.clip_env import check_same_character
from mimickit.sim.engine import Engine


def compute_playback_times(
    elapsed: float, start_times: torch.Tensor, lengths: torch.Tensor, wrapping: torch.Tensor
) -> torch.Tensor:
    """Clip time of every env. Wrapping clips run on (the motion library carries their root drift across
    cycles); clamped clips start over at their end instead of freezing on the last frame."""
    times = start_times + elapsed
    return torch.where(wrapping, times, torch.remainder(times, lengths))


class ViewMotionEnv:
    """Shows the motion library's clips on the engine's characters: env i plays clip i % num_motions, starting
    `time_offset` seconds later than the previous env that plays the same clip."""

    def __init__(
        self,
        engine: Engine,
        motion_lib: MotionLib,
        *,
        time_offset: float,
        shown_envs: list[int] | None,
    ):
        """
        Args:
            engine: the character's engine; only `set_state` is used (no `step`).
            motion_lib: the clips to play.
            time_offset: seconds between the start times of envs that play the same clip.
            shown_envs: env ids drawn side by side by the video and the viewer; None shows all envs.
        """
        check_same_character(engine, motion_lib)
        self.engine = engine
        self.motion_lib = motion_lib
        self.num_envs = engine.num_envs
        self.device = engine.device
        self.dt = engine.control_dt
        self.shown_envs = list(range(self.num_envs)) if shown_envs is None else list(shown_envs)
        if not self.shown_envs or min(self.shown_envs) < 0 or max(self.shown_envs) >= self.num_envs:
            raise ValueError(f"shown_envs must be a non-empty list of env ids in [0, {self.num_envs}), got {shown_envs}")

        env_ids = torch.arange(self.num_envs, device=self.device)
        self.env_ids = env_ids
        self.motion_ids = env_ids % motion_lib.num_motions
        self.start_times = (env_ids // motion_lib.num_motions).float() * time_offset
        self.lengths = motion_lib.get_motion_length(self.motion_ids)
        self.wrapping = motion_lib.is_wrapping(self.motion_ids)
        self.num_steps = 0

    def motion_times(self) -> torch.Tensor:
        return compute_playback_times(self.num_steps * self.dt, self.start_times, self.lengths, self.wrapping)

    def reset(self) -> None:
        self.num_steps = 0
        self._pose()

    def step(self) -> None:
        self.num_steps += 1
        self._pose()

    def _pose(self) -> None:
        frame = self.motion_lib.calc_motion_frame(self.motion_ids, self.motion_times())
        self.engine.set_state(self.env_ids, frame.char_state())
