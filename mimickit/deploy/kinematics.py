"""The character's body tree and joint layout read from its MJCF, with the conversions a clip needs: numpy versions
of `mimickit.anim.kinematics.KinematicCharacter`'s (same formulas; the MJCF's offsets, axes and ranges are rounded
to float32 as there, so both compute from the same numbers).

A body below the root has no joint (fixed), one hinge, or three hinges with axes x, y, z ("spherical": an exp map in
a clip, Euler xyz angles R = Rx(a) Ry(b) Rz(c) in qpos).
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from mimickit.deploy import quat

FIXED, HINGE, SPHERICAL = "fixed", "hinge", "spherical"


@dataclass(frozen=True)
class Joint:
    body: str
    kind: str  # FIXED | HINGE | SPHERICAL
    dofs: tuple[str, ...]  # hinge names, in qpos order
    dof_start: int


class Skeleton:
    """Body tree, joint layout and forward kinematics of one character (float64 arrays)."""

    def __init__(self, mjcf: str):
        model = mujoco.MjModel.from_xml_path(str(mjcf))
        bodies = _tree_bodies(model)
        index = {b: i for i, b in enumerate(bodies)}
        self.body_names = [model.body(b).name for b in bodies]
        self.parents = np.array([-1] + [index[int(model.body_parentid[b])] for b in bodies[1:]])
        self.local_pos = model.body_pos[bodies].astype(np.float32).astype(np.float64)
        self.local_rot = quat.quat_from_wxyz(model.body_quat[bodies].astype(np.float32).astype(np.float64))
        self.joints: list[Joint] = []
        hinge_ids: list[int] = []
        axes: list[np.ndarray] = []
        for b in bodies[1:]:
            ids = list(range(model.body_jntadr[b], model.body_jntadr[b] + model.body_jntnum[b]))
            if any(model.jnt_type[j] != mujoco.mjtJoint.mjJNT_HINGE for j in ids):
                raise ValueError(f"body {model.body(b).name!r}: only hinge joints are supported below the root")
            kind = {0: FIXED, 1: HINGE, 3: SPHERICAL}.get(len(ids))
            if kind == SPHERICAL and not np.allclose(model.jnt_axis[ids], np.eye(3), atol=1e-6):
                kind = None
            if kind is None:
                raise ValueError(f"body {model.body(b).name!r}: {len(ids)} hinges; supported are 0, 1 or 3 (x, y, z)")
            self.joints.append(Joint(model.body(b).name, kind, tuple(model.joint(j).name for j in ids), len(hinge_ids)))
            if kind == HINGE:
                axes.append(model.jnt_axis[ids[0]] / np.linalg.norm(model.jnt_axis[ids[0]]))
            hinge_ids.extend(ids)
        self.dof_names = [name for j in self.joints for name in j.dofs]
        limited = model.jnt_limited[hinge_ids].astype(bool)
        low = np.where(limited, model.jnt_range[hinge_ids, 0], -np.pi).astype(np.float32)
        high = np.where(limited, model.jnt_range[hinge_ids, 1], np.pi).astype(np.float32)
        self.dof_low, self.dof_high = low.astype(np.float64), high.astype(np.float64)
        self._sph = [k for k, j in enumerate(self.joints) if j.kind == SPHERICAL]
        self._hinge = [k for k, j in enumerate(self.joints) if j.kind == HINGE]
        self._sph_dofs = np.array([[self.joints[k].dof_start + i for i in range(3)] for k in self._sph],
                                  dtype=np.int64).reshape(-1, 3)
        self._hinge_dofs = np.array([self.joints[k].dof_start for k in self._hinge], dtype=np.int64)
        self._hinge_axes = np.array(axes, dtype=np.float32).reshape(-1, 3).astype(np.float64)

    @property
    def num_bodies(self) -> int:
        return len(self.body_names)

    @property
    def num_dofs(self) -> int:
        return len(self.dof_names)

    def layout(self) -> list[dict]:
        """The joint layout as the metadata writes it (`character.joints`)."""
        return [{"body": j.body, "type": j.kind, "dofs": list(j.dofs)} for j in self.joints]

    # ---- joint rotations <-> clip values / hinge angles ----
    def frame_dofs_to_joint_rot(self, frame_dofs: np.ndarray) -> np.ndarray:
        """Clip dof values (..., num_dofs) -> joint rotations (..., num_bodies - 1, 4)."""
        return self._joint_rot(quat.exp_map_to_quat(frame_dofs[..., self._sph_dofs]), frame_dofs)

    def dof_to_joint_rot(self, dof_pos: np.ndarray) -> np.ndarray:
        """Hinge angles (..., num_dofs) -> joint rotations."""
        return self._joint_rot(quat.quat_from_euler_xyz(dof_pos[..., self._sph_dofs]), dof_pos)

    def _joint_rot(self, sph_rot: np.ndarray, dofs: np.ndarray) -> np.ndarray:
        """Joint rotations from the 3-DoF joints' quaternions and the hinges' angles, read from `dofs`."""
        out = np.zeros((*dofs.shape[:-1], self.num_bodies - 1, 4))
        out[..., 3] = 1.0
        out[..., self._sph, :] = sph_rot
        out[..., self._hinge, :] = quat.quat_from_axis_angle(self._hinge_axes, dofs[..., self._hinge_dofs])
        return out

    def joint_rot_to_dof(self, joint_rot: np.ndarray, near: np.ndarray | None = None) -> np.ndarray:
        """Joint rotations -> hinge angles: the Euler solution inside the ranges (wrapped into the window centred on
        each range) or, given `near`, the one closest to it written as near + wrapped step."""
        dofs = np.zeros((*joint_rot.shape[:-2], self.num_dofs))
        quats = joint_rot[..., self._sph, :]
        if near is None:
            low, high = self.dof_low[self._sph_dofs], self.dof_high[self._sph_dofs]
            dofs[..., self._sph_dofs] = compute_euler_xyz_in_range(quats, low, high)
        else:
            dofs[..., self._sph_dofs] = compute_euler_xyz_near(quats, near[..., self._sph_dofs])
        dofs[..., self._hinge_dofs] = quat.quat_twist_angle(joint_rot[..., self._hinge, :], self._hinge_axes)
        if near is None:
            return _wrap_to_range(dofs, self.dof_low, self.dof_high)
        return near + quat.wrap_angle(dofs - near)

    def joint_rot_to_dof_vel(
        self, rot_prev: np.ndarray, rot_next: np.ndarray, dt: np.ndarray, dof_pos: np.ndarray
    ) -> np.ndarray:
        """Hinge angle rates at `dof_pos` from the joint rotations `dt` (...,) seconds apart around it."""
        omega_parent = quat.quat_to_exp_map(quat.quat_mul(rot_next, quat.quat_conjugate(rot_prev))) / dt[..., None, None]
        omega_local = quat.quat_rotate_inverse(self.dof_to_joint_rot(dof_pos), omega_parent)
        rates = np.zeros_like(dof_pos)
        rates[..., self._sph_dofs] = compute_euler_xyz_rates(dof_pos[..., self._sph_dofs], omega_local[..., self._sph, :])
        rates[..., self._hinge_dofs] = (omega_local[..., self._hinge, :] * self._hinge_axes).sum(-1)
        return rates

    def forward_kinematics(
        self, root_pos: np.ndarray, root_rot: np.ndarray, joint_rot: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """World body positions (..., B, 3) and rotations (..., B, 4), walking the tree root first."""
        local = quat.quat_mul(np.broadcast_to(self.local_rot[1:], joint_rot.shape), joint_rot)
        body_pos = np.empty((*root_pos.shape[:-1], self.num_bodies, 3))
        body_rot = np.empty((*root_rot.shape[:-1], self.num_bodies, 4))
        body_pos[..., 0, :], body_rot[..., 0, :] = root_pos, root_rot
        for b in range(1, self.num_bodies):  # MJCF order lists every parent before its children
            p = self.parents[b]
            offset = np.broadcast_to(self.local_pos[b], body_pos[..., p, :].shape)
            body_pos[..., b, :] = body_pos[..., p, :] + quat.quat_rotate(body_rot[..., p, :], offset)
            body_rot[..., b, :] = quat.quat_mul(body_rot[..., p, :], local[..., b - 1, :])
        return body_pos, body_rot


def compute_euler_xyz_in_range(quats: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Of the two Euler xyz solutions of each rotation, the one with the smaller range violation (ties: principal)."""
    principal = quat.quat_to_euler_xyz(quats)
    flipped = _flip_euler(principal)
    principal, flipped = _wrap_to_range(principal, low, high), _wrap_to_range(flipped, low, high)
    use_flipped = _range_violation(flipped, low, high) < _range_violation(principal, low, high)
    return np.where(use_flipped[..., None], flipped, principal)


def compute_euler_xyz_near(quats: np.ndarray, reference: np.ndarray) -> np.ndarray:
    principal = quat.quat_to_euler_xyz(quats)
    steps = quat.wrap_angle(np.stack([principal, _flip_euler(principal)], axis=-2) - reference[..., None, :])
    use_flipped = np.abs(steps[..., 1, :]).sum(-1) < np.abs(steps[..., 0, :]).sum(-1)
    return reference + np.where(use_flipped[..., None], steps[..., 1, :], steps[..., 0, :])


def compute_euler_xyz_rates(angles: np.ndarray, omega_local: np.ndarray, min_cos: float = 1e-3) -> np.ndarray:
    b, c = angles[..., 1], angles[..., 2]
    wx, wy, wz = omega_local[..., 0], omega_local[..., 1], omega_local[..., 2]
    cb, sb, cc, sc = np.cos(b), np.sin(b), np.cos(c), np.sin(c)
    cb = np.where(cb >= 0, np.maximum(cb, min_cos), np.minimum(cb, -min_cos))
    a_rate = (wx * cc - wy * sc) / cb
    b_rate = wx * sc + wy * cc
    c_rate = wz - a_rate * sb
    return np.stack([a_rate, b_rate, c_rate], axis=-1)


def _flip_euler(angles: np.ndarray) -> np.ndarray:
    a, b, c = angles[..., 0], angles[..., 1], angles[..., 2]
    return np.stack([a + np.pi, np.where(b >= 0, np.pi - b, -np.pi - b), c + np.pi], axis=-1)


def _wrap_to_range(angle: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    centre = 0.5 * (low + high)
    return centre + quat.wrap_angle(angle - centre)


def _range_violation(angles: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    return (np.maximum(low - angles, 0) + np.maximum(angles - high, 0)).sum(-1)


def _tree_bodies(model: mujoco.MjModel) -> list[int]:
    """The bodies of the one free-floating tree under the world body, in MJCF (depth-first) order."""
    roots = [b for b in range(1, model.nbody) if model.body_parentid[b] == 0]
    if len(roots) != 1:
        raise ValueError(f"the character MJCF must have one body under <worldbody>, found {len(roots)}")
    root = roots[0]
    if model.body_jntnum[root] != 1 or model.jnt_type[model.body_jntadr[root]] != mujoco.mjtJoint.mjJNT_FREE:
        raise ValueError(f"the root body {model.body(root).name!r} must have exactly one free joint")
    return [b for b in range(1, model.nbody) if model.body_rootid[b] == root]
