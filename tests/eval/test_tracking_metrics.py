"""The evaluation's per-frame metrics against hand computations."""
import math

import torch

from mimickit.anim import rotations as rot
from mimickit.envs.rewards import compute_root_relative_tracking_error, compute_tracking_error
from mimickit.eval.metrics import (
    compute_frame_errors,
    joint_angle_err,
    phase_bin,
    root_drift_xy,
)

# a chain of four bodies: root <- 1 <- 2, and 3 on the root
PARENTS = torch.tensor([-1, 0, 1, 0])


def pose(n=2):
    gen = torch.Generator().manual_seed(0)
    pos = torch.randn(n, 4, 3, generator=gen)
    q = rot.quat_normalize(torch.randn(n, 4, 4, generator=gen))
    return pos, q


def test_identical_poses_have_no_error():
    pos, q = pose()
    errors = compute_frame_errors(pos, q, pos.clone(), q.clone(), PARENTS)
    for name, value in errors._asdict().items():
        assert value.shape == (2,) and value.abs().max() < 1e-6, name


def test_a_global_offset_counts_in_full_but_not_root_relative():
    pos, q = pose()
    shifted = pos + torch.tensor([0.03, 0.04, 0.0])  # 5 cm, horizontal
    errors = compute_frame_errors(shifted, q, pos, q, PARENTS)
    torch.testing.assert_close(errors.body_pos * 1000, torch.full((2,), 50.0))  # mm
    torch.testing.assert_close(errors.mpjpe, torch.zeros(2), atol=1e-6, rtol=0)  # MPJPE ignores a root translation
    torch.testing.assert_close(errors.root_drift, torch.full((2,), 0.05))
    torch.testing.assert_close(errors.joint_angle, torch.zeros(2), atol=1e-6, rtol=0)


def test_one_body_off_and_the_root_off():
    pos, _ = pose()
    moved = pos.clone()
    moved[:, 2, 2] += 0.1  # one of four bodies 10 cm up
    torch.testing.assert_close(compute_tracking_error(moved, pos), torch.full((2,), 0.025))
    torch.testing.assert_close(compute_root_relative_tracking_error(moved, pos), torch.full((2,), 0.025))
    moved = pos.clone()
    moved[:, 0, 2] += 0.1  # the root alone 10 cm up: the three others are 10 cm off relative to it
    torch.testing.assert_close(compute_tracking_error(moved, pos), torch.full((2,), 0.025))
    torch.testing.assert_close(compute_root_relative_tracking_error(moved, pos), torch.full((2,), 0.075))
    torch.testing.assert_close(root_drift_xy(moved[:, 0], pos[:, 0]), torch.zeros(2))  # vertical: no drift


def test_joint_angle_error_is_the_relative_rotation_per_joint():
    _, q = pose()
    turn = rot.quat_from_axis_angle(torch.tensor([0.0, 0.0, 1.0]), torch.tensor(0.3))
    bent = q.clone()
    bent[:, 3] = rot.quat_mul(turn, q[:, 3])  # a leaf turned 0.3 rad: one of three joints
    torch.testing.assert_close(joint_angle_err(bent, q, PARENTS), torch.full((2,), 0.1))
    bent[:, 2] = rot.quat_mul(turn, q[:, 2])  # body 2 turned as well: joint 2 turned, joint 3 (on the root) still
    torch.testing.assert_close(joint_angle_err(bent, q, PARENTS), torch.full((2,), 0.2))
    whole = rot.quat_mul(turn.expand(2, 4, 4), q)  # the whole character turned: no joint moved
    torch.testing.assert_close(joint_angle_err(whole, q, PARENTS), torch.zeros(2), atol=1e-6, rtol=0)
    torch.testing.assert_close(joint_angle_err(-q, q, PARENTS), torch.zeros(2), atol=1e-6, rtol=0)  # q ~ -q
    flipped = q.clone()
    flipped[:, 1] = rot.quat_mul(rot.quat_from_axis_angle(torch.tensor([1.0, 0.0, 0.0]), torch.tensor(math.pi)),
                                 q[:, 1])  # joint 1 by pi, so joint 2 (relative to body 1) by pi too
    torch.testing.assert_close(joint_angle_err(flipped, q, PARENTS), torch.full((2,), 2 * math.pi / 3))


def test_phase_bins():
    times = torch.tensor([0.0, 0.49, 0.5, 0.99, 1.0, 1.2, 0.25])
    lengths = torch.tensor([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5])
    assert phase_bin(times, lengths, 2).tolist() == [0, 0, 1, 1, 1, 1, 1]
    assert phase_bin(times, lengths, 1).tolist() == [0] * 7
