"""Convert a DeepMimic `.txt` clip (JSON, Y up, quaternions w-first) into a MimicKit `.pkl` clip.

A DeepMimic row is `[duration, root pos (3), root rot (w, x, y, z), joint params...]`, the joints in the character
file's ID order: spherical joints are 4 quaternion values, revolute joints one angle about the joint's local +Z,
fixed joints nothing. Every quaternion is normalised (as DeepMimic does at load; several clips are far from unit
length) and mapped from Y up to Z up by q -> C q C^-1 with C = Qx(+90°), positions by (x, y, z) -> (x, -z, y).
The arms of the T-pose humanoid get the rest-pose offset Qx(±90°) (see `retarget.py`).

Timing: row i's duration is the time to row i + 1 (the last one is ignored). fps is 1 / median duration, rounded
to an integer when within 0.1%. If any duration is off by more than 5% (`humanoid3d_roll.txt` has one doubled
segment) the clip is resampled onto a uniform grid at that fps covering the same duration.

CLI: `python -m mimickit.tools.deepmimic_to_pkl CLIP.txt OUT.pkl [--character humanoid3d.txt] [--mjcf humanoid.xml]`
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mimickit.anim import rotations as rot
from mimickit.anim.motion import LoopMode, Motion
from mimickit.anim.kinematics import KinematicCharacter
from mimickit.tools import DEFAULT_HUMANOID_MJCF
from mimickit.tools.retarget import SourcePoses, poses_to_frames, quat_about_x, resample_poses

PARAM_SIZES = {"none": 7, "spherical": 4, "revolute": 1, "fixed": 0}
LOOP_MODES = {"wrap": LoopMode.WRAP, "none": LoopMode.CLAMP}
UNEVEN_DURATION_TOL = 0.05  # relative deviation of a segment's duration that triggers resampling
FPS_ROUND_TOL = 1e-3  # relative distance to an integer fps below which fps is rounded


@dataclass(frozen=True)
class DeepMimicJoint:
    name: str
    kind: str  # a key of PARAM_SIZES; "none" is the 6-DoF root


# The joint order and types of DeepMimic's `data/characters/humanoid3d.txt` (checked against the file in tests).
HUMANOID3D_JOINTS = tuple(
    DeepMimicJoint(name, kind)
    for name, kind in [
        ("root", "none"), ("chest", "spherical"), ("neck", "spherical"),
        ("right_hip", "spherical"), ("right_knee", "revolute"), ("right_ankle", "spherical"),
        ("right_shoulder", "spherical"), ("right_elbow", "revolute"), ("right_wrist", "fixed"),
        ("left_hip", "spherical"), ("left_knee", "revolute"), ("left_ankle", "spherical"),
        ("left_shoulder", "spherical"), ("left_elbow", "revolute"), ("left_wrist", "fixed"),
    ]
)  # fmt: skip

# DeepMimic joint -> the MJCF body it drives.
HUMANOID3D_TO_HUMANOID = {
    "root": "pelvis", "chest": "torso", "neck": "head",
    "right_hip": "right_thigh", "right_knee": "right_shin", "right_ankle": "right_foot",
    "right_shoulder": "right_upper_arm", "right_elbow": "right_lower_arm", "right_wrist": "right_hand",
    "left_hip": "left_thigh", "left_knee": "left_shin", "left_ankle": "left_foot",
    "left_shoulder": "left_upper_arm", "left_elbow": "left_lower_arm", "left_wrist": "left_hand",
}  # fmt: skip

# The humanoid's T-pose arms relative to DeepMimic's hanging arms.
HUMANOID_REST_OFFSETS = {
    **{b: quat_about_x(math.pi / 2) for b in ("right_upper_arm", "right_lower_arm", "right_hand")},
    **{b: quat_about_x(-math.pi / 2) for b in ("left_upper_arm", "left_lower_arm", "left_hand")},
}

# Y up (x forward, z right) -> Z up (x forward, y left): C = Qx(+90°).
_Y_UP_TO_Z_UP = quat_about_x(math.pi / 2)


def load_deepmimic_character(path: str | Path) -> tuple[DeepMimicJoint, ...]:
    """Joint names and types, in ID order, from a DeepMimic character file (`Skeleton.Joints`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"DeepMimic character file not found: {path}")
    try:
        joints = sorted(json.loads(path.read_text())["Skeleton"]["Joints"], key=lambda j: j["ID"])
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a DeepMimic character file (need Skeleton.Joints): {e}") from None
    result = tuple(DeepMimicJoint(j["Name"], j["Type"]) for j in joints)
    unknown = {j.kind for j in result} - set(PARAM_SIZES)
    if unknown:
        raise ValueError(f"{path}: unknown joint types {sorted(unknown)} (known: {sorted(PARAM_SIZES)})")
    return result


def compute_frame_timing(durations: np.ndarray) -> tuple[float, np.ndarray, bool]:
    """(fps, frame times, uneven) from the per-row durations (the last row's is ignored)."""
    segments = np.asarray(durations, dtype=np.float64)[:-1]
    if segments.size == 0 or np.any(segments <= 0):
        raise ValueError(f"frame durations must be positive, got {segments.tolist()[:8]}")
    fps = 1.0 / float(np.median(segments))
    if abs(fps - round(fps)) < FPS_ROUND_TOL * fps:
        fps = float(round(fps))
    times = np.concatenate([[0.0], np.cumsum(segments)])
    uneven = bool(np.any(np.abs(segments * fps - 1.0) > UNEVEN_DURATION_TOL))
    return fps, times, uneven


def read_deepmimic_poses(rows: np.ndarray, joints: tuple[DeepMimicJoint, ...]) -> SourcePoses:
    """Source poses in the Z-up frame, keyed by DeepMimic joint name (fixed joints omitted)."""
    width = 1 + sum(PARAM_SIZES[j.kind] for j in joints)
    if rows.ndim != 2 or rows.shape[1] != width:
        layout = ", ".join(f"{j.name}:{PARAM_SIZES[j.kind]}" for j in joints)
        raise ValueError(f"frames must be rows of {width} numbers (duration, {layout}), got shape {rows.shape}")
    c = torch.as_tensor(_Y_UP_TO_Z_UP, dtype=torch.float64)
    to_z_up = lambda q: rot.quat_mul(rot.quat_mul(c, q), rot.quat_conjugate(c))  # noqa: E731
    params = torch.as_tensor(rows, dtype=torch.float64)
    root_pos, local_rots, col = None, {}, 1
    for joint in joints:
        values = params[:, col : col + PARAM_SIZES[joint.kind]]
        col += PARAM_SIZES[joint.kind]
        if joint.kind == "none":
            root_pos = torch.stack([values[:, 0], -values[:, 2], values[:, 1]], -1)
            q = _normalized_wxyz(values[:, 3:7], joint.name)
        elif joint.kind == "spherical":
            q = _normalized_wxyz(values, joint.name)
        elif joint.kind == "revolute":
            z_axis = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).expand(values.shape[0], 3)
            q = rot.quat_from_axis_angle(z_axis, values[:, 0])
        else:
            continue
        local_rots[joint.name] = to_z_up(q).numpy()
    if root_pos is None:
        raise ValueError("the DeepMimic character has no root joint (type 'none')")
    return SourcePoses(root_pos=root_pos.numpy(), local_rots=local_rots)


def _normalized_wxyz(q_wxyz: torch.Tensor, joint: str) -> torch.Tensor:
    norm = q_wxyz.norm(dim=-1)
    if torch.any(norm < 1e-6):
        raise ValueError(f"zero-length quaternion for joint {joint!r} in frames {torch.nonzero(norm < 1e-6).flatten().tolist()}")
    return rot.quat_from_wxyz(q_wxyz / norm.unsqueeze(-1))


def convert_deepmimic_clip(
    clip: dict,
    character: KinematicCharacter,
    joints: tuple[DeepMimicJoint, ...] = HUMANOID3D_JOINTS,
    joint_to_body: dict[str, str] = HUMANOID3D_TO_HUMANOID,
    rest_offsets: dict[str, np.ndarray] = HUMANOID_REST_OFFSETS,
) -> Motion:
    """A decoded DeepMimic clip (dict with "Loop" and "Frames") as a Motion for `character`'s character."""
    if not isinstance(clip, dict) or "Frames" not in clip:
        raise ValueError("a DeepMimic clip is a JSON object with a 'Frames' list")
    loop = clip.get("Loop", "none")
    if loop not in LOOP_MODES:
        raise ValueError(f"unknown Loop {loop!r} (known: {sorted(LOOP_MODES)})")
    rows = np.asarray(clip["Frames"], dtype=np.float64)
    if rows.ndim != 2 or rows.shape[0] < 2:
        raise ValueError(f"'Frames' must hold at least 2 rows of equal length, got shape {rows.shape}")
    poses = read_deepmimic_poses(rows, joints)
    unmapped = sorted(set(poses.local_rots) - set(joint_to_body))
    if unmapped:
        raise KeyError(f"no target body for DeepMimic joints {unmapped}")
    poses = SourcePoses(poses.root_pos, {joint_to_body[k]: v for k, v in poses.local_rots.items()})

    fps, times, uneven = compute_frame_timing(rows[:, 0])
    if uneven:
        num_frames = int(round(times[-1] * fps)) + 1
        poses = resample_poses(poses, times, np.minimum(np.arange(num_frames) / fps, times[-1]))
    frames = poses_to_frames(character, poses, rest_offsets)
    return Motion(fps=fps, loop_mode=LOOP_MODES[loop], frames=frames)


def deepmimic_to_motion(
    clip_path: str | Path, mjcf_path: str | Path = DEFAULT_HUMANOID_MJCF, character_path: str | Path | None = None
) -> Motion:
    """Read a DeepMimic clip file; the joint layout comes from `character_path` (default: humanoid3d)."""
    clip_path = Path(clip_path)
    if not clip_path.is_file():
        raise FileNotFoundError(f"DeepMimic clip not found: {clip_path}")
    joints = HUMANOID3D_JOINTS if character_path is None else load_deepmimic_character(character_path)
    try:
        clip = json.loads(clip_path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{clip_path}: not JSON: {e}") from None
    try:
        return convert_deepmimic_clip(clip, KinematicCharacter(str(mjcf_path)), joints)
    except (ValueError, KeyError) as e:
        raise type(e)(f"{clip_path}: {e}") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clip", type=Path, help="DeepMimic .txt clip")
    parser.add_argument("output", type=Path, help="output .pkl")
    parser.add_argument("--character", type=Path, default=None, help="DeepMimic character file (default: humanoid3d)")
    parser.add_argument("--mjcf", type=Path, default=DEFAULT_HUMANOID_MJCF, help="target character MJCF")
    args = parser.parse_args(argv)
    motion = deepmimic_to_motion(args.clip, args.mjcf, args.character)
    motion.save(args.output)
    print(f"{args.output}: {motion.num_frames} frames at {motion.fps:g} fps, {motion.loop_mode.name}")


if __name__ == "__main__":
    main()
