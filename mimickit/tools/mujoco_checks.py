"""Checks of a clip on the character's MuJoCo model: body positions, ground clearance, self-contacts.

MuJoCo (`mj_kinematics`, `mj_fwdPosition`) is the ground truth the converters and generated clips are tested
against; it runs frame by frame, which is fine for offline tools and tests.
"""
from __future__ import annotations

import mujoco
import numpy as np


def _character_geoms(model: mujoco.MjModel) -> list[int]:
    return [g for g in range(model.ngeom) if model.geom_bodyid[g] > 0 and model.geom_type[g] != mujoco.mjtGeom.mjGEOM_PLANE]


def compute_body_positions(model: mujoco.MjModel, qpos: np.ndarray) -> np.ndarray:
    """World positions (N, nbody - 1, 3) of the bodies (world body excluded) for qpos (N, nq)."""
    data = mujoco.MjData(model)
    out = np.empty((qpos.shape[0], model.nbody - 1, 3))
    for i, q in enumerate(qpos):
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        out[i] = data.xpos[1:]
    return out


def compute_lowest_point(model: mujoco.MjModel, qpos: np.ndarray) -> np.ndarray:
    """Height (N,) of the lowest point of the character's geometry in each frame.

    Spheres, capsules and boxes are exact; other shapes use their bounding box; planes (floors) are ignored.
    """
    data = mujoco.MjData(model)
    geoms = _character_geoms(model)
    out = np.empty(qpos.shape[0])
    for i, q in enumerate(qpos):
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        out[i] = min(_geom_bottom(model, data, g) for g in geoms)
    return out


def _geom_bottom(model: mujoco.MjModel, data: mujoco.MjData, g: int) -> float:
    size, xmat, z = model.geom_size[g], data.geom_xmat[g].reshape(3, 3), data.geom_xpos[g, 2]
    kind = model.geom_type[g]
    if kind == mujoco.mjtGeom.mjGEOM_SPHERE:
        return z - size[0]
    if kind == mujoco.mjtGeom.mjGEOM_CAPSULE:
        return z - abs(xmat[2, 2]) * size[1] - size[0]
    if kind == mujoco.mjtGeom.mjGEOM_BOX:
        return z - np.abs(xmat[2]) @ size
    center, half = model.geom_aabb[g, :3], model.geom_aabb[g, 3:]
    return z + xmat[2] @ center - np.abs(xmat[2]) @ half


def count_self_contacts(model: mujoco.MjModel, qpos: np.ndarray) -> np.ndarray:
    """Number (N,) of penetrating contacts between the character's own geoms (floors excluded) per frame.

    MuJoCo's default filtering applies: a body never collides with its parent.
    """
    data = mujoco.MjData(model)
    character = set(_character_geoms(model))
    out = np.zeros(qpos.shape[0], dtype=int)
    for i, q in enumerate(qpos):
        data.qpos[:] = q
        mujoco.mj_fwdPosition(model, data)
        pairs = zip(data.contact.geom1[: data.ncon], data.contact.geom2[: data.ncon], data.contact.dist[: data.ncon])
        out[i] = sum(1 for g1, g2, dist in pairs if g1 in character and g2 in character and dist < 0)
    return out
