"""Turn a source skeleton's local joint rotations into motion frames for a character with the same bones.

The source and the target share link offsets but may differ in their rest (zero) pose: MimicKit's humanoid is a
T-pose, DeepMimic's and AMP's hang their arms down. A fixed per-body offset O_b relates the two: the rotation of
target body b relative to source body b, i.e. the target pose that reproduces the source's rest pose (the upper
arms of the humanoid get Qx(±90°)). A local rotation then maps as

    q_target[b] = O[parent(b)]^-1 ⊗ q_source[b] ⊗ O[b]

For one-hinge bodies the angle is the twist of q_target about the hinge axis; for spherical bodies the exp map
(`KinematicCharacter.joint_rot_to_frame_dofs`). All inputs are in the target's world frame (Z up), quaternions
are xyzw, and the target's MJCF body frames are assumed unrotated (no body `quat`), as in the humanoid.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from mimickit.anim import rotations as rot
from mimickit.anim.kinematics import JointType, KinematicCharacter


@dataclass
class SourcePoses:
    """A source clip keyed by target body names: root position (N, 3) and local rotations (N, 4) xyzw.

    The root body's rotation is its world rotation. Bodies without DoFs in the target may be omitted.
    """

    root_pos: np.ndarray
    local_rots: dict[str, np.ndarray]

    @property
    def num_frames(self) -> int:
        return int(self.root_pos.shape[0])


def quat_about_x(angle: float) -> np.ndarray:
    """Rotation by `angle` about +x, xyzw (the rest-pose offsets of the arms are of this form)."""
    return np.array([math.sin(angle / 2), 0.0, 0.0, math.cos(angle / 2)])


def compute_target_local_rots(
    local_rots: dict[str, torch.Tensor], parents: dict[str, str | None], rest_offsets: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """q_target[b] = O[parent]^-1 ⊗ q_source[b] ⊗ O[b]; a missing offset is the identity."""
    out = {}
    for name, q in local_rots.items():
        parent = parents[name]
        q = rot.quat_normalize(q)
        if name in rest_offsets:
            q = rot.quat_mul(q, rest_offsets[name].to(q))
        if parent is not None and parent in rest_offsets:
            q = rot.quat_mul(rot.quat_conjugate(rest_offsets[parent].to(q)), q)
        out[name] = q
    return out


def poses_to_frames(
    character: KinematicCharacter, poses: SourcePoses, rest_offsets: dict[str, np.ndarray] | None = None
) -> np.ndarray:
    """Motion frames (N, character.frame_dim), float64, from source poses."""
    names = character.body_names
    unknown = sorted(set(poses.local_rots) - set(names))
    if unknown:
        raise KeyError(f"source rotations for bodies {unknown} that the character does not have ({names})")
    missing = [j.body for j in character.joints if j.joint_type != JointType.FIXED and j.body not in poses.local_rots]
    if names[0] not in poses.local_rots:
        missing.insert(0, names[0])
    if missing:
        raise KeyError(f"no source rotation for bodies {missing} of {character.mjcf_file}")
    n = poses.num_frames
    if poses.root_pos.shape != (n, 3):
        raise ValueError(f"root_pos must have shape ({n}, 3), got {poses.root_pos.shape}")
    for name, q in poses.local_rots.items():
        if q.shape != (n, 4):
            raise ValueError(f"rotation of {name!r} must have shape ({n}, 4), got {q.shape}")

    parents = character.parent_indices.tolist()
    parent_names = {name: (names[p] if p >= 0 else None) for name, p in zip(names, parents)}
    offsets = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in (rest_offsets or {}).items()}
    local = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in poses.local_rots.items()}
    target = compute_target_local_rots(local, parent_names, offsets)

    identity = rot.quat_identity((n,), dtype=torch.float64)
    joint_rot = torch.stack([target.get(j.body, identity) for j in character.joints], dim=-2)
    root_pos = torch.as_tensor(poses.root_pos, dtype=torch.float64)
    root_rot = rot.quat_to_exp_map(target[names[0]])
    return torch.cat([root_pos, root_rot, character.joint_rot_to_frame_dofs(joint_rot)], dim=-1).numpy()


def resample_poses(poses: SourcePoses, times: np.ndarray, new_times: np.ndarray) -> SourcePoses:
    """Poses at `new_times` (within [times[0], times[-1]]): lerp for positions, slerp for rotations."""
    times, new_times = np.asarray(times, dtype=np.float64), np.asarray(new_times, dtype=np.float64)
    if times.shape != (poses.num_frames,) or np.any(np.diff(times) <= 0):
        raise ValueError(f"times must be {poses.num_frames} strictly increasing values")
    if new_times.min() < times[0] - 1e-9 or new_times.max() > times[-1] + 1e-9:
        raise ValueError(f"new_times must lie in [{times[0]}, {times[-1]}]")
    idx1 = np.clip(np.searchsorted(times, new_times, side="right"), 1, len(times) - 1)
    idx0 = idx1 - 1
    alpha = np.clip((new_times - times[idx0]) / (times[idx1] - times[idx0]), 0.0, 1.0)
    root_pos = (1 - alpha)[:, None] * poses.root_pos[idx0] + alpha[:, None] * poses.root_pos[idx1]
    t = torch.as_tensor(alpha)
    local_rots = {
        name: rot.slerp(torch.as_tensor(q[idx0]), torch.as_tensor(q[idx1]), t).numpy()
        for name, q in poses.local_rots.items()
    }
    return SourcePoses(root_pos=root_pos, local_rots=local_rots)
