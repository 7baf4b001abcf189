import math

import torch

from mimickit.anim import rotations as rot

X, Y, Z = torch.eye(3, dtype=torch.float64).unbind(0)


def test_euler_xyz_composes_as_rx_ry_rz():
    angles = torch.rand(200, 3, dtype=torch.float64) * 2 - 1
    a, b, c = angles.unbind(-1)
    expected = rot.quat_mul(
        rot.quat_mul(rot.quat_from_axis_angle(X.expand(200, 3), a), rot.quat_from_axis_angle(Y.expand(200, 3), b)),
        rot.quat_from_axis_angle(Z.expand(200, 3), c),
    )
    torch.testing.assert_close(rot.quat_from_euler_xyz(angles), expected)


def test_euler_xyz_round_trip_off_gimbal_lock():
    angles = torch.empty(1000, 3, dtype=torch.float64)
    angles[:, 0].uniform_(-math.pi + 1e-3, math.pi - 1e-3)
    angles[:, 1].uniform_(-math.pi / 2 + 1e-3, math.pi / 2 - 1e-3)
    angles[:, 2].uniform_(-math.pi + 1e-3, math.pi - 1e-3)
    torch.testing.assert_close(rot.quat_to_euler_xyz(rot.quat_from_euler_xyz(angles)), angles, atol=1e-9, rtol=0)


def test_euler_xyz_decomposition_reproduces_any_rotation():
    q = rot.quat_normalize(torch.randn(1000, 4, dtype=torch.float64))
    back = rot.quat_from_euler_xyz(rot.quat_to_euler_xyz(q))
    assert rot.quat_diff_angle(back, q).max() < 1e-7


def test_twist_angle_of_a_pure_hinge_and_wrap():
    axis = torch.nn.functional.normalize(torch.randn(100, 3, dtype=torch.float64), dim=-1)
    angle = (torch.rand(100, dtype=torch.float64) * 2 - 1) * (math.pi - 1e-6)
    torch.testing.assert_close(rot.quat_twist_angle(rot.quat_from_axis_angle(axis, angle), axis), angle)
    torch.testing.assert_close(rot.wrap_angle(torch.tensor([3 * math.pi / 2, -3 * math.pi / 2, 0.5])),
                               torch.tensor([-math.pi / 2, math.pi / 2, 0.5]))
