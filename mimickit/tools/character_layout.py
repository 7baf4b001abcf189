"""Where each body's DoFs sit in a motion frame and in MuJoCo's qpos, read from a character MJCF.

A motion frame is `[root pos (3), root rot (3, exp map), joint dofs]` with the bodies in MJCF depth-first order:
a body with three hinges about its local x, y, z axes (in that order) is one spherical joint stored as a 3-D exp
map; a body with one hinge stores its angle; a body without joints stores nothing. MuJoCo composes a body's three
hinges as R = Rx(q_x) Ry(q_y) Rz(q_z), so its qpos holds intrinsic x-y-z Euler angles, not the exp map; the
conversion between the two lives here and nowhere else in the tools.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np
import torch

from mimickit.anim import rotations as rot

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_HUMANOID_MJCF = REPO_ROOT / "data" / "assets" / "humanoid" / "humanoid.xml"

_AXES = np.eye(3)
_AXIS_TOL = 1e-6


class JointKind(str, enum.Enum):
    ROOT = "root"  # free joint: 3 position + 3 exp map values in a frame, 7 qpos values
    SPHERE = "sphere"  # hinges about local x, y, z: 3 exp map values, 3 qpos Euler angles
    HINGE = "hinge"  # one hinge: its angle in both
    FIXED = "fixed"  # no joint


@dataclass(frozen=True)
class BodyLayout:
    name: str
    parent: int  # index into CharacterLayout.bodies, -1 for the root
    kind: JointKind
    hinge_axis: np.ndarray | None  # local axis of a HINGE body
    frame_cols: slice  # its values in a motion frame
    qpos_cols: slice  # its values in MuJoCo's qpos


@dataclass(frozen=True)
class CharacterLayout:
    """The character's bodies (MuJoCo world body excluded, root first) and their DoF slots."""

    mjcf_path: Path
    bodies: tuple[BodyLayout, ...]
    frame_dim: int
    nq: int

    @property
    def body_names(self) -> list[str]:
        return [b.name for b in self.bodies]

    def body(self, name: str) -> BodyLayout:
        for b in self.bodies:
            if b.name == name:
                return b
        raise KeyError(f"unknown body {name!r}; {self.mjcf_path.name} has bodies {self.body_names}")

    def load_model(self) -> mujoco.MjModel:
        return mujoco.MjModel.from_xml_path(str(self.mjcf_path))


def load_character_layout(mjcf_path: str | Path = DEFAULT_HUMANOID_MJCF) -> CharacterLayout:
    """Parse the MJCF with MuJoCo and check that every body's joints fit the motion-frame convention."""
    path = Path(mjcf_path)
    if not path.is_file():
        raise FileNotFoundError(f"character MJCF not found: {path}")
    model = mujoco.MjModel.from_xml_path(str(path))
    if model.nbody < 2 or model.body_jntnum[1] != 1 or model.jnt_type[model.body_jntadr[1]] != mujoco.mjtJoint.mjJNT_FREE:
        raise ValueError(f"{path}: the first body must be the character root with exactly one free joint")
    bodies, frame_col = [], 0
    for body_id in range(1, model.nbody):
        name = model.body(body_id).name
        kind, axis = _joint_kind(model, body_id, path)
        width = {JointKind.ROOT: 6, JointKind.SPHERE: 3, JointKind.HINGE: 1, JointKind.FIXED: 0}[kind]
        qpos_start = int(model.jnt_qposadr[model.body_jntadr[body_id]]) if kind != JointKind.FIXED else 0
        qpos_width = {JointKind.ROOT: 7, JointKind.SPHERE: 3, JointKind.HINGE: 1, JointKind.FIXED: 0}[kind]
        bodies.append(
            BodyLayout(
                name=name,
                parent=int(model.body_parentid[body_id]) - 1,
                kind=kind,
                hinge_axis=axis,
                frame_cols=slice(frame_col, frame_col + width),
                qpos_cols=slice(qpos_start, qpos_start + qpos_width),
            )
        )
        frame_col += width
    return CharacterLayout(mjcf_path=path, bodies=tuple(bodies), frame_dim=frame_col, nq=int(model.nq))


def _joint_kind(model: mujoco.MjModel, body_id: int, path: Path) -> tuple[JointKind, np.ndarray | None]:
    name = model.body(body_id).name
    first, count = int(model.body_jntadr[body_id]), int(model.body_jntnum[body_id])
    if body_id == 1:
        return JointKind.ROOT, None
    if count == 0:
        return JointKind.FIXED, None
    types = [int(model.jnt_type[j]) for j in range(first, first + count)]
    if any(t != mujoco.mjtJoint.mjJNT_HINGE for t in types):
        raise ValueError(f"{path}: body {name!r} has non-hinge joints; only hinges are supported below the root")
    axes = model.jnt_axis[first : first + count]
    if count == 1:
        return JointKind.HINGE, axes[0].copy()
    if count == 3 and np.allclose(axes, _AXES, atol=_AXIS_TOL):
        return JointKind.SPHERE, None
    raise ValueError(
        f"{path}: body {name!r} has {count} hinges with axes {axes.tolist()}; expected one hinge, "
        "or three about local x, y, z in that order"
    )


def compute_quat_from_xyz_euler(angles: torch.Tensor) -> torch.Tensor:
    """Quaternion (xyzw) of Rx(a) Ry(b) Rz(c), MuJoCo's composition of a body's x, y, z hinges."""
    qs = [rot.quat_from_axis_angle(_unit(i, angles), angles[..., i]) for i in range(3)]
    return rot.quat_mul(rot.quat_mul(qs[0], qs[1]), qs[2])


def compute_xyz_euler_from_quat(q: torch.Tensor) -> torch.Tensor:
    """Angles (a, b, c) with Rx(a) Ry(b) Rz(c) = R(q); b in [-pi/2, pi/2]."""
    m = rot.quat_to_matrix(rot.quat_normalize(q))
    a = torch.atan2(-m[..., 1, 2], m[..., 2, 2])
    b = torch.asin(m[..., 0, 2].clamp(-1.0, 1.0))
    c = torch.atan2(-m[..., 0, 1], m[..., 0, 0])
    return torch.stack([a, b, c], dim=-1)


def _unit(i: int, like: torch.Tensor) -> torch.Tensor:
    axis = torch.zeros(*like.shape[:-1], 3, dtype=like.dtype, device=like.device)
    axis[..., i] = 1.0
    return axis


def frames_to_qpos(layout: CharacterLayout, frames: np.ndarray) -> np.ndarray:
    """Motion frames (N, frame_dim) to MuJoCo qpos (N, nq), float64."""
    frames = _check_2d(frames, layout.frame_dim, "frames")
    f = torch.as_tensor(frames, dtype=torch.float64)
    qpos = torch.zeros(f.shape[0], layout.nq, dtype=torch.float64)
    for b in layout.bodies:
        values = f[:, b.frame_cols]
        if b.kind == JointKind.ROOT:
            qpos[:, b.qpos_cols] = torch.cat([values[:, :3], rot.quat_to_wxyz(rot.exp_map_to_quat(values[:, 3:]))], -1)
        elif b.kind == JointKind.SPHERE:
            qpos[:, b.qpos_cols] = compute_xyz_euler_from_quat(rot.exp_map_to_quat(values))
        elif b.kind == JointKind.HINGE:
            qpos[:, b.qpos_cols] = values
    return qpos.numpy()


def qpos_to_frames(layout: CharacterLayout, qpos: np.ndarray) -> np.ndarray:
    """MuJoCo qpos (N, nq) to motion frames (N, frame_dim), float64."""
    qpos = _check_2d(qpos, layout.nq, "qpos")
    q = torch.as_tensor(qpos, dtype=torch.float64)
    frames = torch.zeros(q.shape[0], layout.frame_dim, dtype=torch.float64)
    for b in layout.bodies:
        values = q[:, b.qpos_cols]
        if b.kind == JointKind.ROOT:
            root_quat = rot.quat_normalize(rot.quat_from_wxyz(values[:, 3:]))
            frames[:, b.frame_cols] = torch.cat([values[:, :3], rot.quat_to_exp_map(root_quat)], -1)
        elif b.kind == JointKind.SPHERE:
            frames[:, b.frame_cols] = rot.quat_to_exp_map(compute_quat_from_xyz_euler(values))
        elif b.kind == JointKind.HINGE:
            frames[:, b.frame_cols] = values
    return frames.numpy()


def _check_2d(array: np.ndarray, width: int, name: str) -> np.ndarray:
    array = np.asarray(array, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != width:
        raise ValueError(f"{name} must have shape (num_frames, {width}), got {array.shape}")
    return array


def compute_body_positions(model: mujoco.MjModel, qpos: np.ndarray) -> np.ndarray:
    """World positions (N, num_bodies, 3) of the character's bodies (world body excluded) by MuJoCo FK."""
    data = mujoco.MjData(model)
    out = np.empty((qpos.shape[0], model.nbody - 1, 3))
    for i, q in enumerate(qpos):
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        out[i] = data.xpos[1:]
    return out


def compute_lowest_point(model: mujoco.MjModel, qpos: np.ndarray) -> np.ndarray:
    """Height (N,) of the lowest point of the character's collision geometry in each frame.

    Spheres, capsules and boxes are exact; other shapes use their bounding box; planes are ignored.
    """
    data = mujoco.MjData(model)
    geoms = [g for g in range(model.ngeom) if model.geom_bodyid[g] > 0 and model.geom_type[g] != mujoco.mjtGeom.mjGEOM_PLANE]
    out = np.empty(qpos.shape[0])
    for i, q in enumerate(qpos):
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        out[i] = min(_geom_bottom(model, data, g) for g in geoms)
    return out


def _geom_bottom(model: mujoco.MjModel, data: mujoco.MjData, g: int) -> float:
    size, xmat = model.geom_size[g], data.geom_xmat[g].reshape(3, 3)
    z = data.geom_xpos[g, 2]
    kind = model.geom_type[g]
    if kind == mujoco.mjtGeom.mjGEOM_SPHERE:
        return z - size[0]
    if kind == mujoco.mjtGeom.mjGEOM_CAPSULE:
        return z - abs(xmat[2, 2]) * size[1] - size[0]
    if kind == mujoco.mjtGeom.mjGEOM_BOX:
        return z - np.abs(xmat[2]) @ size
    center, half = model.geom_aabb[g, :3], model.geom_aabb[g, 3:]
    return z + xmat[2] @ center - np.abs(xmat[2]) @ half
