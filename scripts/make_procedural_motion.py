"""Write the project's own clip, `data/motions/procedural/humanoid_procedural.pkl`: gentle in-place stepping.

A 2 s cycle sampled at 30 fps (61 frames, the last equal to the first, WRAP): each leg in turn lifts its knee
(hip flexion, knee bend, the ankle keeping the foot level) while the other stands straight; the arms hang a little
away from the body and swing against the legs, the torso twists slightly and the head keeps looking forward.
Everything is a smooth periodic function of time; the root height puts the lowest point of the character's
geometry exactly on the ground (z = 0) in every frame. Made from scratch, so it can be committed and used for
smoke runs and CI without any mocap data.

    python scripts/make_procedural_motion.py [--mjcf data/assets/humanoid/capsule_humanoid.xml] [--out PATH]
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import mujoco
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from mimickit.anim import rotations as rot  # noqa: E402
from mimickit.anim.kinematics import KinematicCharacter  # noqa: E402
from mimickit.anim.motion import LoopMode, Motion  # noqa: E402
from mimickit.tools import DEFAULT_HUMANOID_MJCF  # noqa: E402
from mimickit.tools.mujoco_checks import compute_lowest_point  # noqa: E402

DEFAULT_OUT = REPO_ROOT / "data" / "motions" / "procedural" / "humanoid_procedural.pkl"
FPS = 30
PERIOD_S = 2.0  # one step with each leg
KNEE_LIFT = 0.6  # rad of hip flexion at the top of a step (the knee bends twice as much)
ARM_DOWN = 1.35  # rad about x from the T-pose: arms hanging, slightly away from the thighs
ARM_SWING = 0.35  # rad
ELBOW_BEND, ELBOW_SWING = 0.4, 0.15  # rad
TORSO_TWIST, TORSO_LEAN = 0.08, 0.05  # rad


def compute_stepping_dofs(phase: torch.Tensor) -> dict[str, torch.Tensor]:
    """Hinge angles by dof name at cycle phase 2*pi*t/period; dofs not listed stay 0."""
    s = torch.sin(phase)
    lift_left, lift_right = s.clamp_min(0) ** 2, (-s).clamp_min(0) ** 2  # smooth (C1) half-wave bumps
    dofs = {"abdomen_y": torch.full_like(phase, TORSO_LEAN), "abdomen_z": TORSO_TWIST * s, "neck_z": -TORSO_TWIST * s}
    for side, lift in (("left", lift_left), ("right", lift_right)):
        dofs[f"{side}_hip_y"] = -KNEE_LIFT * lift  # thigh forward
        dofs[f"{side}_knee"] = 2 * KNEE_LIFT * lift  # shin back
        dofs[f"{side}_ankle_y"] = -KNEE_LIFT * lift  # foot level: hip + knee + ankle = 0
    # the right arm swings forward with the left knee, and the left arm with the right knee
    dofs["right_shoulder_x"] = torch.full_like(phase, ARM_DOWN)
    dofs["left_shoulder_x"] = torch.full_like(phase, -ARM_DOWN)
    dofs["right_shoulder_z"] = ARM_SWING * s
    dofs["left_shoulder_z"] = ARM_SWING * s
    dofs["right_elbow"] = ELBOW_BEND + ELBOW_SWING * s
    dofs["left_elbow"] = -(ELBOW_BEND - ELBOW_SWING * s)
    return dofs


def make_procedural_motion(mjcf: Path = DEFAULT_HUMANOID_MJCF) -> Motion:
    character = KinematicCharacter(str(mjcf))
    model = mujoco.MjModel.from_xml_path(str(mjcf))
    num_frames = round(PERIOD_S * FPS) + 1
    phase = 2 * math.pi * torch.arange(num_frames, dtype=torch.float64) / (num_frames - 1)
    dof_pos = torch.zeros(num_frames, character.num_dofs, dtype=torch.float64)
    for name, values in compute_stepping_dofs(phase).items():
        dof_pos[:, character.dof_names.index(name)] = values
    root_pos = torch.zeros(num_frames, 3, dtype=torch.float64)
    root_rot = rot.quat_identity((num_frames,), dtype=torch.float64)
    frames = character.dof_pos_to_frame(root_pos, root_rot, dof_pos)
    qpos = character.frame_to_qpos(frames).numpy()
    frames[:, 2] = -torch.as_tensor(compute_lowest_point(model, qpos))  # lowest point on z = 0
    frames[-1] = frames[0]  # exact loop closure (sin(2*pi) is not exactly 0)
    return Motion(fps=FPS, loop_mode=LoopMode.WRAP, frames=frames.numpy())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mjcf", type=Path, default=DEFAULT_HUMANOID_MJCF, help="the humanoid MJCF")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output .pkl")
    args = parser.parse_args(argv)
    motion = make_procedural_motion(args.mjcf)
    motion.save(args.out)
    print(f"{args.out}: {motion.num_frames} frames at {motion.fps:g} fps, {motion.duration:.2f} s, WRAP")


if __name__ == "__main__":
    main()
