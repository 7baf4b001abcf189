"""xyzw quaternions on numpy arrays: the functions of `mimickit.anim.rotations` that deployment needs, written the
same way (same formulas, same order of operations), so results agree with the torch versions to rounding.
Every function takes arrays with arbitrary leading batch dimensions and keeps their dtype."""
from __future__ import annotations

import numpy as np

_EPS = 1e-8


def quat_from_wxyz(q: np.ndarray) -> np.ndarray:
    return np.concatenate([q[..., 1:4], q[..., 0:1]], axis=-1)


def quat_to_wxyz(q: np.ndarray) -> np.ndarray:
    return np.concatenate([q[..., 3:4], q[..., 0:3]], axis=-1)


def quat_normalize(q: np.ndarray) -> np.ndarray:
    return q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), _EPS).astype(q.dtype)


def quat_conjugate(q: np.ndarray) -> np.ndarray:
    return np.concatenate([-q[..., :3], q[..., 3:]], axis=-1)


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a ⊗ b (apply b first, then a)."""
    ax, ay, az, aw = np.moveaxis(a, -1, 0)
    bx, by, bz, bw = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ],
        axis=-1,
    )


def quat_rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors v by unit quaternions q."""
    xyz, w = q[..., :3], q[..., 3:]
    t = 2.0 * np.cross(xyz, v)
    return v + w * t + np.cross(xyz, t)


def quat_rotate_inverse(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    return quat_rotate(quat_conjugate(q), v)


def quat_from_axis_angle(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    half = 0.5 * np.asarray(angle)[..., None]
    axis = axis / np.maximum(np.linalg.norm(axis, axis=-1, keepdims=True), _EPS)
    axis, half = np.broadcast_arrays(axis, half)
    return np.concatenate([axis * np.sin(half), np.cos(half[..., :1])], axis=-1)


def quat_to_axis_angle(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Axis and angle in [0, pi] (the quaternion is flipped to w >= 0)."""
    q = np.where(q[..., 3:] < 0, -q, q)
    sin_half = np.linalg.norm(q[..., :3], axis=-1)
    angle = 2.0 * np.arctan2(sin_half, q[..., 3])
    default_axis = np.zeros_like(q[..., :3])
    default_axis[..., 0] = 1.0
    axis = np.where((sin_half > _EPS)[..., None], q[..., :3] / np.maximum(sin_half, _EPS)[..., None], default_axis)
    return axis, angle


def exp_map_to_quat(e: np.ndarray) -> np.ndarray:
    """Exponential map (axis * angle) to quaternion; exact near zero."""
    angle = np.linalg.norm(e, axis=-1, keepdims=True)
    half = 0.5 * angle
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(angle > 1e-6, np.sin(half) / np.maximum(angle, 1e-12), 0.5 - angle**2 / 48.0)
    return np.concatenate([e * scale, np.cos(half)], axis=-1)


def quat_to_exp_map(q: np.ndarray) -> np.ndarray:
    axis, angle = quat_to_axis_angle(q)
    return axis * angle[..., None]


def quat_to_tan_norm(q: np.ndarray) -> np.ndarray:
    """6D rotation encoding: the rotated x (tangent) and z (normal) axes, concatenated."""
    tan = np.zeros_like(q[..., :3])
    tan[..., 0] = 1.0
    norm = np.zeros_like(q[..., :3])
    norm[..., 2] = 1.0
    return np.concatenate([quat_rotate(q, tan), quat_rotate(q, norm)], axis=-1)


def heading_angle(q: np.ndarray) -> np.ndarray:
    """Yaw of the rotated x axis about the world z (up) axis."""
    ref = np.zeros_like(q[..., :3])
    ref[..., 0] = 1.0
    d = quat_rotate(q, ref)
    return np.arctan2(d[..., 1], d[..., 0])


def heading_quat_inv(q: np.ndarray) -> np.ndarray:
    axis = np.zeros_like(q[..., :3])
    axis[..., 2] = 1.0
    return quat_from_axis_angle(axis, -heading_angle(q))


def slerp(q0: np.ndarray, q1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation along the shorter arc; t broadcasts as (..., 1)."""
    cos = (q0 * q1).sum(-1, keepdims=True)
    q1 = np.where(cos < 0, -q1, q1)
    cos = np.minimum(np.abs(cos), 1.0)
    theta = np.arccos(cos)
    sin = np.sin(theta)
    near = sin < 1e-6
    safe = np.maximum(sin, 1e-6)
    w0 = np.where(near, 1.0 - t, np.sin((1.0 - t) * theta) / safe)
    w1 = np.where(near, t, np.sin(t * theta) / safe)
    return quat_normalize(w0 * q0 + w1 * q1)


def quat_to_angular_velocity(q0: np.ndarray, q1: np.ndarray, dt: np.ndarray | float) -> np.ndarray:
    """World-frame angular velocity that takes q0 to q1 in dt."""
    return quat_to_exp_map(quat_mul(q1, quat_conjugate(q0))) / dt


def wrap_angle(angle: np.ndarray) -> np.ndarray:
    """Wrap angles into [-pi, pi) (the divisor's sign, as torch.remainder)."""
    return np.mod(angle + np.pi, 2.0 * np.pi) - np.pi


def quat_from_euler_xyz(angles: np.ndarray) -> np.ndarray:
    """Intrinsic x-y-z Euler angles (..., 3): R = Rx(a) Ry(b) Rz(c), three stacked hinges with axes x, y, z."""
    half = 0.5 * angles
    c, s = np.cos(half), np.sin(half)
    cx, cy, cz = np.moveaxis(c, -1, 0)
    sx, sy, sz = np.moveaxis(s, -1, 0)
    return np.stack(
        [
            sx * cy * cz + cx * sy * sz,
            cx * sy * cz - sx * cy * sz,
            cx * cy * sz + sx * sy * cz,
            cx * cy * cz - sx * sy * sz,
        ],
        axis=-1,
    )


def quat_to_euler_xyz(q: np.ndarray) -> np.ndarray:
    """Inverse of `quat_from_euler_xyz`, with the middle angle in [-pi/2, pi/2]."""
    x, y, z, w = np.moveaxis(q, -1, 0)
    r00 = 1.0 - 2.0 * (y * y + z * z)
    r01 = 2.0 * (x * y - w * z)
    r02 = 2.0 * (x * z + w * y)
    r12 = 2.0 * (y * z - w * x)
    r22 = 1.0 - 2.0 * (x * x + y * y)
    a = np.arctan2(-r12, r22)
    b = np.arctan2(r02, np.sqrt(r00 * r00 + r01 * r01))
    c = np.arctan2(-r01, r00)
    return np.stack([a, b, c], axis=-1)


def quat_twist_angle(q: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Angle in [-pi, pi) of the rotation's twist about a unit `axis`."""
    return wrap_angle(2.0 * np.arctan2((q[..., :3] * axis).sum(-1), q[..., 3]))
