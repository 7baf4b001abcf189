"""Convert a poselib SkeletonMotion `.npy` (IsaacGymEnvs / ASE AMP clips) into a MimicKit `.pkl` clip.

The file is an object array holding an OrderedDict: `rotation` (N, J, 4) local xyzw rotations (joint 0 is the
root's world rotation), `root_translation` (N, 3) in Z up, `skeleton_tree` (`node_names`, `parent_indices`,
`local_translation`), `is_local` and `fps`; arrays sit in `{"arr": ndarray, ...}` wrappers. Nodes map to the MJCF
bodies of the same name; nodes the character lacks (e.g. `sword`, `shield`) are dropped. The AMP rest pose hangs
the arms down, so the T-pose humanoid's arms get the offset Qx(±90°) (see `retarget.py`). The format has no loop
flag: choose one with `loop_mode` (default CLAMP, as IsaacGymEnvs plays these clips).

Only load files you trust: the `.npy` stores a pickle. It is read with an unpickler that builds nothing but
OrderedDicts and numpy arrays, which blocks the usual code-execution payloads, not every malformed file.

CLI: `python -m mimickit.tools.poselib_to_pkl CLIP.npy OUT.pkl [--loop clamp|wrap] [--mjcf humanoid.xml]`
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mimickit.anim.motion import LoopMode, Motion
from mimickit.anim.kinematics import KinematicCharacter
from mimickit.tools import DEFAULT_HUMANOID_MJCF
from mimickit.tools.deepmimic_to_pkl import HUMANOID_REST_OFFSETS
from mimickit.tools.retarget import SourcePoses, poses_to_frames
from mimickit.utils.safe_pickle import NUMPY_GLOBALS, ORDERED_DICT, RestrictedUnpickler

_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def load_skeleton_motion(path: str | Path) -> dict:
    """The SkeletonMotion dict of a poselib `.npy`, as `np.load(path, allow_pickle=True).item()` would return it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"poselib clip not found: {path}")
    with path.open("rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            read_header = _HEADER_READERS.get(version)
            if read_header is None:
                raise ValueError(f"unsupported .npy version {version}")
            _, _, dtype = read_header(f)
        except ValueError as e:
            raise ValueError(f"{path}: not a readable .npy file: {e}") from None
        if not dtype.hasobject:
            raise ValueError(f"{path}: holds a plain {dtype} array, not a pickled SkeletonMotion")
        array = RestrictedUnpickler(f, NUMPY_GLOBALS | ORDERED_DICT, "not part of a poselib SkeletonMotion").load()
    data = array.item() if isinstance(array, np.ndarray) and array.shape == () else array
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a SkeletonMotion dict, got {type(data).__name__}")
    return data


def _arr(data: dict, key: str) -> np.ndarray:
    if key not in data:
        raise KeyError(f"missing key {key!r} (has {sorted(data)})")
    value = data[key]
    return np.asarray(value["arr"] if isinstance(value, dict) else value, dtype=np.float64)


def read_poselib_poses(data: dict) -> tuple[SourcePoses, float]:
    """Source poses keyed by node name, and the clip's fps."""
    if not data.get("is_local", True):
        raise ValueError("only local-rotation SkeletonMotions are supported (is_local is False)")
    tree = data.get("skeleton_tree")
    if not isinstance(tree, dict) or "node_names" not in tree:
        raise KeyError("missing skeleton_tree.node_names")
    names = list(tree["node_names"])
    rotation, root_pos = _arr(data, "rotation"), _arr(data, "root_translation")
    n = root_pos.shape[0]
    if rotation.shape != (n, len(names), 4) or root_pos.shape != (n, 3):
        raise ValueError(
            f"expected rotation (N, {len(names)}, 4) and root_translation (N, 3), got {rotation.shape} and {root_pos.shape}"
        )
    fps = float(np.asarray(data.get("fps", np.nan)))
    if not np.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a positive number, got {data.get('fps')!r}")
    return SourcePoses(root_pos=root_pos, local_rots={name: rotation[:, j] for j, name in enumerate(names)}), fps


def convert_skeleton_motion(
    data: dict,
    character: KinematicCharacter,
    loop_mode: LoopMode = LoopMode.CLAMP,
    rest_offsets: dict[str, np.ndarray] = HUMANOID_REST_OFFSETS,
) -> Motion:
    """A decoded SkeletonMotion dict as a Motion for `character`'s character."""
    poses, fps = read_poselib_poses(data)
    known = set(character.body_names)
    poses = SourcePoses(poses.root_pos, {k: v for k, v in poses.local_rots.items() if k in known})
    return Motion(fps=fps, loop_mode=loop_mode, frames=poses_to_frames(character, poses, rest_offsets))


def poselib_to_motion(
    clip_path: str | Path, mjcf_path: str | Path = DEFAULT_HUMANOID_MJCF, loop_mode: LoopMode = LoopMode.CLAMP
) -> Motion:
    data = load_skeleton_motion(clip_path)
    try:
        return convert_skeleton_motion(data, KinematicCharacter(str(mjcf_path)), loop_mode)
    except (ValueError, KeyError) as e:
        raise type(e)(f"{clip_path}: {e}") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clip", type=Path, help="poselib SkeletonMotion .npy (trusted file)")
    parser.add_argument("output", type=Path, help="output .pkl")
    parser.add_argument("--loop", choices=["clamp", "wrap"], default="clamp", help="loop mode of the clip")
    parser.add_argument("--mjcf", type=Path, default=DEFAULT_HUMANOID_MJCF, help="target character MJCF")
    args = parser.parse_args(argv)
    motion = poselib_to_motion(args.clip, args.mjcf, LoopMode[args.loop.upper()])
    motion.save(args.output)
    print(f"{args.output}: {motion.num_frames} frames at {motion.fps:g} fps, {motion.loop_mode.name}")


if __name__ == "__main__":
    main()
