"""Batched rotation math on torch tensors.

Project convention: quaternions are **(x, y, z, w)**, as in MimicKit and poselib. MuJoCo stores (w, x, y, z);
the engines convert at their boundary (`quat_from_wxyz` / `quat_to_wxyz`) and nowhere else.
Every function takes tensors with arbitrary leading batch dimensions.
"""
from __future__ import annotations

import torch

_EPS = 1e-8


def quat_from_wxyz(q: torch.Tensor) -> torch.Tensor:
    return torch.cat([q[..., 1:4], q[..., 0:1]], dim=-1)


def quat_to_wxyz(q: torch.Tensor) -> torch.Tensor:
    return torch.cat([q[..., 3:4], q[..., 0:3]], dim=-1)


def quat_identity(shape: tuple[int, ...], device=None, dtype=torch.float32) -> torch.Tensor:
    q = torch.zeros(*shape, 4, device=device, dtype=dtype)
    q[..., 3] = 1.0
    return q


def quat_normalize(q: torch.Tensor) -> torch.Tensor:
    return q / q.norm(dim=-1, keepdim=True).clamp_min(_EPS)


def quat_conjugate(q: torch.Tensor) -> torch.Tensor:
    return torch.cat([-q[..., :3], q[..., 3:]], dim=-1)


def quat_mul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product a ⊗ b (apply b first, then a), as a's left-multiplication matrix applied to b: four kernels
    whatever the batch, where the sixteen products and twelve sums, term by term, launch 28 (the env step calls it
    several times)."""
    ax, ay, az, aw = a.unbind(-1)
    nx, ny, nz, _ = (-a).unbind(-1)
    left = torch.stack([aw, nz, ay, ax,
                        az, aw, nx, ay,
                        ny, ax, aw, az,
                        nx, ny, nz, aw], dim=-1).unflatten(-1, (4, 4))
    return (left * b.unsqueeze(-2)).sum(dim=-1)


def quat_rotate(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rotate vectors v by unit quaternions q."""
    xyz, w = q[..., :3], q[..., 3:]
    t = 2.0 * torch.cross(xyz, v, dim=-1)
    return v + w * t + torch.cross(xyz, t, dim=-1)


def quat_rotate_inverse(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return quat_rotate(quat_conjugate(q), v)


def quat_from_axis_angle(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    half = 0.5 * angle.unsqueeze(-1)
    axis = axis / axis.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    return torch.cat([axis * torch.sin(half), torch.cos(half)], dim=-1)


def quat_to_axis_angle(q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Axis and angle in [0, pi] (the quaternion is flipped to w >= 0)."""
    q = torch.where(q[..., 3:] < 0, -q, q)
    sin_half = q[..., :3].norm(dim=-1)
    angle = 2.0 * torch.atan2(sin_half, q[..., 3])
    default_axis = torch.zeros_like(q[..., :3])
    default_axis[..., 0] = 1.0
    axis = torch.where(
        (sin_half > _EPS).unsqueeze(-1), q[..., :3] / sin_half.clamp_min(_EPS).unsqueeze(-1), default_axis
    )
    return axis, angle


def exp_map_to_quat(e: torch.Tensor) -> torch.Tensor:
    """Exponential map (axis * angle) to quaternion; exact near zero through sinc."""
    angle = e.norm(dim=-1, keepdim=True)
    half = 0.5 * angle
    # sin(angle/2)/angle -> 1/2 as angle -> 0
    scale = torch.where(angle > 1e-6, torch.sin(half) / angle.clamp_min(1e-12), 0.5 - angle**2 / 48.0)
    return torch.cat([e * scale, torch.cos(half)], dim=-1)


def quat_to_exp_map(q: torch.Tensor) -> torch.Tensor:
    axis, angle = quat_to_axis_angle(q)
    return axis * angle.unsqueeze(-1)


def quat_to_matrix(q: torch.Tensor) -> torch.Tensor:
    x, y, z, w = q.unbind(-1)
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz = x * y, x * z, y * z
    wx, wy, wz = w * x, w * y, w * z
    rows = [
        1 - 2 * (yy + zz), 2 * (xy - wz), 2 * (xz + wy),
        2 * (xy + wz), 1 - 2 * (xx + zz), 2 * (yz - wx),
        2 * (xz - wy), 2 * (yz + wx), 1 - 2 * (xx + yy),
    ]
    return torch.stack(rows, dim=-1).reshape(*q.shape[:-1], 3, 3)


def matrix_to_quat(m: torch.Tensor) -> torch.Tensor:
    """Rotation matrix to unit quaternion (Shepperd's method, branch-free over the batch)."""
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    candidates = torch.stack(
        [
            torch.stack([1 + m00 - m11 - m22, m[..., 1, 0] + m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 2, 1] - m[..., 1, 2]], -1),
            torch.stack([m[..., 1, 0] + m[..., 0, 1], 1 - m00 + m11 - m22, m[..., 2, 1] + m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0]], -1),
            torch.stack([m[..., 0, 2] + m[..., 2, 0], m[..., 2, 1] + m[..., 1, 2], 1 - m00 - m11 + m22, m[..., 1, 0] - m[..., 0, 1]], -1),
            torch.stack([m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1], 1 + m00 + m11 + m22], -1),
        ],
        dim=-2,
    )
    best = torch.stack([m00, m11, m22, m00 + m11 + m22], -1).argmax(-1)
    q = torch.gather(candidates, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    return quat_normalize(q)


def quat_to_tan_norm(q: torch.Tensor) -> torch.Tensor:
    """6D rotation encoding: the rotated x (tangent) and z (normal) axes, concatenated, i.e. the first and last
    columns of a unit quaternion's rotation matrix, from the products of its components: 9 kernels whatever the
    batch, where rotating the two axes takes 17 (the env step encodes several rotation sets)."""
    x, y, z, w = 0, 1, 2, 3
    o = q.unsqueeze(-1) * q.unsqueeze(-2)  # o[..., i, j] = q_i q_j
    n = -o
    return (torch.stack([o[..., w, w], o[..., x, y], o[..., x, z], o[..., x, z], o[..., y, z], o[..., w, w]], -1)
            + torch.stack([o[..., x, x], o[..., y, x], o[..., z, x], o[..., z, x], o[..., z, y], o[..., z, z]], -1)
            + torch.stack([n[..., y, y], o[..., w, z], n[..., w, y], o[..., w, y], n[..., w, x], n[..., x, x]], -1)
            + torch.stack([n[..., z, z], o[..., z, w], n[..., y, w], o[..., y, w], n[..., x, w], n[..., y, y]], -1))


def quat_angle(q: torch.Tensor) -> torch.Tensor:
    """Rotation angle in [0, pi] of each quaternion."""
    return 2.0 * torch.atan2(q[..., :3].norm(dim=-1), q[..., 3].abs())


def quat_diff_angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Angle of the relative rotation between a and b."""
    return quat_angle(quat_mul(a, quat_conjugate(b)))


def heading_angle(q: torch.Tensor) -> torch.Tensor:
    """Yaw of the rotated x axis about the world z (up) axis."""
    ref = torch.zeros_like(q[..., :3])
    ref[..., 0] = 1.0
    d = quat_rotate(q, ref)
    return torch.atan2(d[..., 1], d[..., 0])


def heading_quat(q: torch.Tensor) -> torch.Tensor:
    axis = torch.zeros_like(q[..., :3])
    axis[..., 2] = 1.0
    return quat_from_axis_angle(axis, heading_angle(q))


def heading_quat_inv(q: torch.Tensor) -> torch.Tensor:
    axis = torch.zeros_like(q[..., :3])
    axis[..., 2] = 1.0
    return quat_from_axis_angle(axis, -heading_angle(q))


def slerp(q0: torch.Tensor, q1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation along the shorter arc; t broadcasts as (..., 1) or (...)."""
    if t.dim() == q0.dim() - 1:
        t = t.unsqueeze(-1)
    cos = (q0 * q1).sum(-1, keepdim=True)
    q1 = torch.where(cos < 0, -q1, q1)
    cos = cos.abs().clamp(max=1.0)
    theta = torch.acos(cos)
    sin = torch.sin(theta)
    near = sin < 1e-6
    w0 = torch.where(near, 1.0 - t, torch.sin((1.0 - t) * theta) / sin.clamp_min(1e-6))
    w1 = torch.where(near, t, torch.sin(t * theta) / sin.clamp_min(1e-6))
    return quat_normalize(w0 * q0 + w1 * q1)


def quat_to_angular_velocity(q0: torch.Tensor, q1: torch.Tensor, dt: float | torch.Tensor) -> torch.Tensor:
    """World-frame angular velocity that takes q0 to q1 in dt."""
    return quat_to_exp_map(quat_mul(q1, quat_conjugate(q0))) / dt


def wrap_angle(angle: torch.Tensor) -> torch.Tensor:
    """Wrap angles into [-pi, pi)."""
    return torch.remainder(angle + torch.pi, 2.0 * torch.pi) - torch.pi


def quat_from_euler_xyz(angles: torch.Tensor) -> torch.Tensor:
    """Intrinsic x-y-z Euler angles (..., 3) to quaternions: R = Rx(a) Ry(b) Rz(c), as MuJoCo composes three
    consecutive hinges with axes x, y, z on one body."""
    half = 0.5 * angles
    # the three hinges' quaternions (sin(a/2) on their own axis, cos(a/2)) as rows, composed with two `quat_mul`s:
    # 13 kernels where the products written term by term launch 27
    qx, qy, qz = torch.cat([torch.diag_embed(torch.sin(half)), torch.cos(half).unsqueeze(-1)], dim=-1).unbind(-2)
    return quat_mul(quat_mul(qx, qy), qz)


def quat_to_euler_xyz(q: torch.Tensor) -> torch.Tensor:
    """Inverse of `quat_from_euler_xyz`: angles (a, b, c) with b in [-pi/2, pi/2] and a, c in (-pi, pi].

    Exact for every rotation whose middle angle is strictly inside (-pi/2, pi/2); at the gimbal lock only a + c
    (or a - c) is determined and the split is arbitrary.
    """
    x, y, z, w = q.unbind(-1)
    r00 = 1.0 - 2.0 * (y * y + z * z)
    r01 = 2.0 * (x * y - w * z)
    r02 = 2.0 * (x * z + w * y)
    r12 = 2.0 * (y * z - w * x)
    r22 = 1.0 - 2.0 * (x * x + y * y)
    a = torch.atan2(-r12, r22)
    b = torch.atan2(r02, torch.sqrt(r00 * r00 + r01 * r01))
    c = torch.atan2(-r01, r00)
    return torch.stack([a, b, c], dim=-1)


def quat_twist_angle(q: torch.Tensor, axis: torch.Tensor) -> torch.Tensor:
    """Angle in [-pi, pi) of the rotation's twist about a unit `axis` (swing-twist decomposition)."""
    return wrap_angle(2.0 * torch.atan2((q[..., :3] * axis).sum(-1), q[..., 3]))
