"""One `.pkl` clip served as the motion library serves it (`mimickit.anim.motion_lib.MotionLib`), in numpy.

Loading follows `MotionLib._clip_pose` and `_pack`: upsample to at least `min_fps` (slerp of the rotations, lerp of
the root position), hinge angles and forward kinematics per frame, finite-difference velocities (central inside the
clip, one-sided at its ends); the per-frame tables are stored as float32. A query (`frame_at`) follows
`calc_motion_frame` in float32: the frame at or before the time, the blend weight to the next, lerp of positions,
velocities and angles, slerp of the body rotations; a WRAP clip moves on by its horizontal displacement per cycle,
a CLAMP clip holds its last frame. Matching the library's arithmetic keeps the rebuilt observation within float32
rounding of the training env's.
"""
from __future__ import annotations

import math
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mimickit.deploy import quat
from mimickit.deploy.kinematics import Skeleton
from mimickit.utils.safe_pickle import restricted_loads

CLAMP, WRAP = 0, 1
ROOT_DIM = 6


@dataclass(frozen=True)
class Clip:
    fps: float
    loop_mode: int  # CLAMP | WRAP
    frames: np.ndarray  # (num_frames, 6 + num_dofs) float32: root pos, root exp map, clip dof values


@dataclass(frozen=True)
class RefFrame:
    """The reference at a batch of times; world frame, xyzw quaternions (float32, as the library's)."""

    root_pos: np.ndarray  # (N, 3)
    root_rot: np.ndarray  # (N, 4)
    root_lin_vel: np.ndarray  # (N, 3)
    root_ang_vel: np.ndarray  # (N, 3)
    dof_pos: np.ndarray  # (N, D)
    dof_vel: np.ndarray  # (N, D)
    body_pos: np.ndarray  # (N, B, 3)
    body_rot: np.ndarray  # (N, B, 4)


def load_clip(path: str | Path) -> Clip:
    """A MimicKit clip, `{"loop_mode", "fps", "frames"}`, unpickled without running code (numpy arrays only)."""
    try:
        data = restricted_loads(Path(path).read_bytes(), refusal="a motion clip is a plain dict of lists and numbers")
    except pickle.UnpicklingError as e:
        raise ValueError(f"{path}: {e}") from None
    if not isinstance(data, dict) or not {"loop_mode", "fps", "frames"} <= set(data):
        raise ValueError(f"{path}: expected a dict with loop_mode, fps and frames")
    frames = np.asarray(data["frames"], dtype=np.float32)
    if frames.ndim != 2 or frames.shape[0] < 2 or not np.isfinite(frames).all():
        raise ValueError(f"{path}: frames must be a finite (num_frames >= 2, frame_dim) array, got {frames.shape}")
    return Clip(float(data["fps"]), int(data["loop_mode"]), frames)


class Reference:
    """A clip's per-frame reference states and their interpolation."""

    def __init__(self, clip: Clip, skeleton: Skeleton, min_fps: float):
        if clip.frames.shape[1] != ROOT_DIM + skeleton.num_dofs:
            raise ValueError(f"clip frames have {clip.frames.shape[1]} values, the character needs "
                             f"{ROOT_DIM} + {skeleton.num_dofs}")
        self.skeleton = skeleton
        self.loop_mode = clip.loop_mode
        frames = clip.frames.astype(np.float64)
        root_pos, root_rot = frames[:, :3], quat.exp_map_to_quat(frames[:, 3:ROOT_DIM])
        joint_rot = skeleton.frame_dofs_to_joint_rot(frames[:, ROOT_DIM:])
        fps = clip.fps
        factor = max(1, math.ceil(min_fps / fps - 1e-9))
        if factor > 1:
            n = frames.shape[0]
            steps = np.arange((n - 1) * factor + 1)
            i0 = np.minimum(steps // factor, n - 2)
            blend = ((steps - i0 * factor) / factor)[:, None]
            root_pos = root_pos[i0] + blend * (root_pos[i0 + 1] - root_pos[i0])  # torch.lerp
            root_rot = quat.slerp(root_rot[i0], root_rot[i0 + 1], blend)
            joint_rot = quat.slerp(joint_rot[i0], joint_rot[i0 + 1], blend[..., None])
            fps *= factor
        n = root_pos.shape[0]
        dof_pos = skeleton.joint_rot_to_dof(joint_rot)
        body_pos, body_rot = skeleton.forward_kinematics(root_pos, root_rot, joint_rot)
        idx = np.arange(n)
        prev, nxt = np.maximum(idx - 1, 0), np.minimum(idx + 1, n - 1)
        span = (nxt - prev) / fps
        root_lin_vel = (body_pos[nxt, 0] - body_pos[prev, 0]) / span[:, None]
        root_ang_vel = quat.quat_to_angular_velocity(body_rot[prev, 0], body_rot[nxt, 0], span[:, None])
        dof_vel = skeleton.joint_rot_to_dof_vel(joint_rot[prev], joint_rot[nxt], span, dof_pos)
        dof_pos_next = skeleton.joint_rot_to_dof(joint_rot[nxt], near=dof_pos)

        wrap_delta = body_pos[-1, 0] - body_pos[0, 0]
        wrap_delta[2] = 0.0
        self.wrap_delta = (wrap_delta if self.loop_mode == WRAP else np.zeros(3)).astype(np.float32)
        self.num_frames = n
        self.fps = np.float32(fps)
        self.length = np.float32((n - 1) / fps)

        # float32 tables, as the library stores them: values and their steps to the next frame, rotations and slerp terms
        values = [root_lin_vel, root_ang_vel, body_pos, dof_pos, dof_vel]
        next_values = [root_lin_vel[nxt], root_ang_vel[nxt], body_pos[nxt], dof_pos_next, dof_vel[nxt]]
        self._values = [v.astype(np.float32) for v in values]
        self._steps = [(b - a).astype(np.float32) for a, b in zip(values, next_values)]
        rot_next = body_rot[nxt]
        cos = (body_rot * rot_next).sum(-1)
        rot_next = np.where(cos[..., None] < 0, -rot_next, rot_next)
        angle_over_pi = np.arccos(np.minimum(np.abs(cos), 1.0)) / np.pi
        self._rot0, self._rot1 = body_rot.astype(np.float32), rot_next.astype(np.float32)
        self._angle, self._inv_sinc = angle_over_pi.astype(np.float32), (1 / np.sinc(angle_over_pi)).astype(np.float32)

    @property
    def is_wrapping(self) -> bool:
        return self.loop_mode == WRAP

    def frame_at(self, times: np.ndarray) -> RefFrame:
        """The reference at float32 times (N,) in seconds (`MotionLib.calc_motion_frame`)."""
        times = np.asarray(times, dtype=np.float32)
        length = self.length
        cycles = np.floor(times / length) if self.is_wrapping else np.zeros_like(times)
        local = np.minimum(np.maximum(times - cycles * length, np.float32(0)), length)
        frame = local * self.fps
        index = np.minimum(frame.astype(np.int64), self.num_frames - 1)
        t = np.clip(frame - index.astype(np.float32), np.float32(0), np.float32(1))
        root_lin_vel, root_ang_vel, body_pos, dof_pos, dof_vel = (
            v[index] + s[index] * t.reshape(-1, *([1] * (v.ndim - 1))) for v, s in zip(self._values, self._steps)
        )
        body_pos = body_pos + (cycles[:, None] * self.wrap_delta)[:, None, :]
        tb = t[:, None]
        angle, inv_sinc = self._angle[index], self._inv_sinc[index]
        w0 = (1 - tb) * np.sinc((1 - tb) * angle) * inv_sinc
        w1 = tb * np.sinc(tb * angle) * inv_sinc
        body_rot = w0[..., None] * self._rot0[index] + w1[..., None] * self._rot1[index]
        return RefFrame(body_pos[:, 0], body_rot[:, 0], root_lin_vel, root_ang_vel, dof_pos, dof_vel, body_pos, body_rot)

    def clip_over(self, time: np.float32) -> bool:
        """A CLAMP clip's reference has run out (a time-out of the episode)."""
        return not self.is_wrapping and bool(time >= self.length)

