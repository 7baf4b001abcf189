"""Retargeting quality on one clip (the humanoid walk onto the G1, through the CLI): feet that do not skate or enter
the floor, no joint beyond its range, and the robot's key bodies on the scaled key points. The thresholds leave
room above what docs/robots.md reports (walk: 0.6 mm/frame mean skating, 0 mm penetration, 0 violations)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mimickit.anim.kinematics import KinematicCharacter
from mimickit.anim.motion import LoopMode, load_motion
from mimickit.anim.motion_lib import MotionLib
from mimickit.tools.retarget_to_robot import compute_contact_spans

SKATING_MEAN = 0.002  # m per frame (30 fps) of a foot touching the floor at two consecutive frames
SKATING_MAX = 0.02  # one frame of the source walk itself jumps 9 cm (frame 19)
PENETRATION = 0.001  # m
KEY_ERROR_MEAN, KEY_ERROR_MAX = 0.02, 0.10  # m, knees, ankles, elbows, wrists, pelvis vs the scaled key points
FOOT_ERROR_MAX = 0.01  # m


def test_retargeted_walk_meets_the_quality_thresholds(retargeted_walk):
    _, report_file = retargeted_walk
    report = json.loads(report_file.read_text())
    assert report["frames"] == 39 and report["fps"] == 30.0
    assert report["skating_mean"] < SKATING_MEAN and report["skating_max"] < SKATING_MAX
    assert report["penetration_max"] < PENETRATION
    assert report["limit_violations"] == 0 and report["limit_violation_max"] == 0.0
    assert report["key_error_mean"] < KEY_ERROR_MEAN and report["key_error_max"] < KEY_ERROR_MAX
    assert report["foot_error_max"] < FOOT_ERROR_MAX
    assert 0.3 < report["contact_share"] < 0.9  # a walk: one or two feet down most of the time


def test_retargeted_walk_is_a_g1_clip_within_its_joint_ranges(retargeted_walk, g1):
    clip, _ = retargeted_walk
    character = KinematicCharacter(g1["mjcf"])
    motion = load_motion(clip, frame_dim=character.frame_dim)  # 6 + 29 values per frame
    assert motion.loop_mode == LoopMode.WRAP and motion.fps == 30.0
    dof_pos = character.frame_to_dof_pos(torch.as_tensor(motion.frames))
    assert torch.all(dof_pos >= character.dof_low - 1e-5) and torch.all(dof_pos <= character.dof_high + 1e-5)
    # it walks forward (+x) at the robot's scale, about 3/4 of the humanoid's speed, pelvis at standing height
    root = motion.frames[:, :3]
    speed = (root[-1, 0] - root[0, 0]) / motion.duration
    assert 0.6 < speed < 1.2
    assert 0.7 < root[:, 2].mean() < 0.8
    MotionLib(str(clip), character, min_fps=60.0)  # the motion library takes it (speed bounds, FK)


def test_contact_spans_are_runs_of_true():
    contact = np.array([1, 1, 0, 0, 1, 0, 1, 1, 1], dtype=bool)
    assert compute_contact_spans(contact) == [(0, 2), (4, 5), (6, 9)]
