"""The committed procedural clip: loadable, periodic, inside the joint ranges, on the ground, no self-contact."""
import importlib.util
import sys
from pathlib import Path

import mujoco
import numpy as np
import pytest
import torch

from mimickit.anim.kinematics import KinematicCharacter
from mimickit.anim.motion import LoopMode, load_motion
from mimickit.tools import DEFAULT_HUMANOID_MJCF
from mimickit.tools.mujoco_checks import compute_body_positions, compute_lowest_point, count_self_contacts

REPO_ROOT = Path(__file__).resolve().parents[2]
CLIP = REPO_ROOT / "data" / "motions" / "procedural" / "humanoid_procedural.pkl"

pytestmark = pytest.mark.skipif(not DEFAULT_HUMANOID_MJCF.is_file(), reason="project humanoid MJCF not present")


@pytest.fixture(scope="module")
def clip():
    character = KinematicCharacter(str(DEFAULT_HUMANOID_MJCF))
    model = mujoco.MjModel.from_xml_path(str(DEFAULT_HUMANOID_MJCF))
    motion = load_motion(CLIP, frame_dim=character.frame_dim)
    frames = torch.as_tensor(motion.frames, dtype=torch.float64)
    return motion, character, model, frames, character.frame_to_qpos(frames).numpy()


def test_clip_is_a_two_second_30fps_loop(clip):
    motion, *_ = clip
    assert motion.loop_mode == LoopMode.WRAP and motion.fps == 30
    assert motion.duration == pytest.approx(2.0)
    np.testing.assert_allclose(motion.frames[-1], motion.frames[0], atol=1e-6)


def test_clip_is_smooth_and_moves(clip):
    motion, *_ = clip
    steps = np.abs(np.diff(motion.frames, axis=0))
    assert steps.max() < 0.15  # rad or m per frame at 30 fps
    assert np.ptp(motion.frames[:, 6:], axis=0).max() > 0.5  # the knees really bend


def test_clip_stays_inside_joint_ranges(clip):
    _, character, _, frames, _ = clip
    dof_pos = character.frame_to_dof_pos(frames)
    low, high = character.dof_low.double(), character.dof_high.double()
    assert bool(((dof_pos >= low - 1e-6) & (dof_pos <= high + 1e-6)).all())


def test_clip_touches_the_ground_with_a_foot_every_frame(clip):
    _, character, model, _, qpos = clip
    np.testing.assert_allclose(compute_lowest_point(model, qpos), 0.0, atol=1e-4)
    feet = compute_body_positions(model, qpos)[:, [character.body_id("left_foot"), character.body_id("right_foot")], 2]
    np.testing.assert_allclose(feet.min(axis=1), feet.min(), atol=1e-4)  # one foot stays planted
    assert feet.max() - feet.min() > 0.1  # the other one steps


def test_clip_has_no_self_penetration(clip):
    *_, model, _, qpos = clip
    assert count_self_contacts(model, qpos).max() == 0


def test_script_reproduces_committed_clip(clip):
    motion, *_ = clip
    spec = importlib.util.spec_from_file_location("make_procedural_motion", REPO_ROOT / "scripts" / "make_procedural_motion.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        regenerated = module.make_procedural_motion(DEFAULT_HUMANOID_MJCF)
    finally:
        del sys.modules[spec.name]
    np.testing.assert_allclose(regenerated.frames, motion.frames, atol=1e-5)


def test_self_contact_check_detects_crossed_legs(clip):
    _, character, model, frames, _ = clip
    crossed = frames[:1].clone()
    crossed[0, 6 + character.dof_names.index("right_hip_x")] = 0.5  # right leg swung across the left one
    crossed[0, 6 + character.dof_names.index("left_hip_x")] = -0.5
    assert count_self_contacts(model, character.frame_to_qpos(crossed).numpy())[0] > 0
