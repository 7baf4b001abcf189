"""Convert a GMR (github.com/YanjieZe/GMR) robot-motion pickle into a MimicKit `.pkl` clip.

GMR's retargeting scripts save a pickled dict with `fps`, `root_pos` (N, 3), `root_rot` (N, 4) in **xyzw** order
(they reorder MuJoCo's wxyz before saving), `dof_pos` (N, ndof): the robot MJCF's hinge positions, i.e. its qpos
after the free joint, plus `local_body_pos` / `link_body_list`, which are unused. In the frame a one-hinge body
keeps its angle and a body with x, y, z hinges (the humanoid) gets the exp map of Rx Ry Rz. The format has no
loop flag: choose one with `loop_mode` (default CLAMP).

The pickle is read with an unpickler that constructs only numpy arrays and scalars.

CLI: `python -m mimickit.tools.gmr_to_pkl MOTION.pkl OUT.pkl --mjcf ROBOT.xml [--loop clamp|wrap]`
"""
from __future__ import annotations

import argparse
import pickle
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from mimickit.anim import rotations as rot
from mimickit.anim.motion import LoopMode, Motion
from mimickit.anim.kinematics import KinematicCharacter
from mimickit.tools import DEFAULT_HUMANOID_MJCF
from mimickit.utils.safe_pickle import restricted_loads

REQUIRED_KEYS = ("fps", "root_pos", "root_rot", "dof_pos")

def load_gmr_pickle(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"GMR motion not found: {path}")
    try:
        data = restricted_loads(path.read_bytes(), refusal="a GMR motion holds only numpy arrays")
    except pickle.UnpicklingError as e:
        raise ValueError(f"{path}: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a dict with keys {list(REQUIRED_KEYS)}, got {type(data).__name__}")
    return data


def convert_gmr_motion(
    data: dict,
    character: KinematicCharacter,
    loop_mode: LoopMode = LoopMode.CLAMP,
    root_rot_order: Literal["xyzw", "wxyz"] = "xyzw",
) -> Motion:
    """A decoded GMR dict as a Motion for `character`'s robot."""
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise KeyError(f"missing keys {missing} (has {sorted(map(str, data))})")
    root_pos = np.asarray(data["root_pos"], dtype=np.float64)
    root_rot = np.asarray(data["root_rot"], dtype=np.float64)
    dof_pos = np.asarray(data["dof_pos"], dtype=np.float64)
    n, num_dofs = root_pos.shape[0], character.num_dofs
    expected = {"root_pos": (n, 3), "root_rot": (n, 4), "dof_pos": (n, num_dofs)}
    for key, array in (("root_pos", root_pos), ("root_rot", root_rot), ("dof_pos", dof_pos)):
        if array.shape != expected[key]:
            raise ValueError(
                f"{key} must have shape {expected[key]} for {character.mjcf_file} "
                f"({num_dofs} hinge dofs), got {array.shape}"
            )
    if root_rot_order not in ("xyzw", "wxyz"):
        raise ValueError(f"unknown root_rot_order {root_rot_order!r} (xyzw or wxyz)")
    root_xyzw = root_rot if root_rot_order == "xyzw" else root_rot[:, [1, 2, 3, 0]]
    as_tensor = lambda x: torch.as_tensor(x, dtype=torch.float64)  # noqa: E731
    root_quat = rot.quat_normalize(as_tensor(root_xyzw))
    frames = character.dof_pos_to_frame(as_tensor(root_pos), root_quat, as_tensor(dof_pos))
    return Motion(fps=float(np.asarray(data["fps"])), loop_mode=loop_mode, frames=frames.numpy())


def gmr_to_motion(
    motion_path: str | Path,
    mjcf_path: str | Path = DEFAULT_HUMANOID_MJCF,
    loop_mode: LoopMode = LoopMode.CLAMP,
    root_rot_order: Literal["xyzw", "wxyz"] = "xyzw",
) -> Motion:
    data = load_gmr_pickle(motion_path)
    try:
        return convert_gmr_motion(data, KinematicCharacter(str(mjcf_path)), loop_mode, root_rot_order)
    except (ValueError, KeyError) as e:
        raise type(e)(f"{motion_path}: {e}") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("motion", type=Path, help="GMR robot-motion pickle")
    parser.add_argument("output", type=Path, help="output .pkl")
    parser.add_argument("--mjcf", type=Path, default=DEFAULT_HUMANOID_MJCF, help="the robot's MJCF")
    parser.add_argument("--loop", choices=["clamp", "wrap"], default="clamp", help="loop mode of the clip")
    parser.add_argument("--root-rot-order", choices=["xyzw", "wxyz"], default="xyzw", help="quaternion order of root_rot")
    args = parser.parse_args(argv)
    motion = gmr_to_motion(args.motion, args.mjcf, LoopMode[args.loop.upper()], args.root_rot_order)
    motion.save(args.output)
    print(f"{args.output}: {motion.num_frames} frames at {motion.fps:g} fps, {motion.loop_mode.name}")


if __name__ == "__main__":
    main()
