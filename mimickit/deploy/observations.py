"""DeepMimic's policy observation in numpy, for one world: `mimickit.envs.observations` (`compute_char_obs`,
`compute_target_obs`, `compute_phase_obs`) in the order `DeepMimicEnv._compute_obs` concatenates them.

The metadata's `observation.parts` must list exactly these parts, in this order, with these shapes (B bodies,
K target steps); `check_layout` refuses anything else, so a layout change in training fails here loudly instead
of feeding the policy a shuffled vector.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from mimickit.deploy import quat


def deepmimic_layout(num_bodies: int, num_target_steps: int, phase: bool) -> list[tuple[str, list[int]]]:
    b, k = num_bodies, num_target_steps
    parts = [("root_height", [1]), ("body_pos", [b - 1, 3]), ("body_rot", [b, 6]), ("body_lin_vel", [b, 3]),
             ("body_ang_vel", [b, 3]), ("target_poses", [k, b, 9])]
    return parts + ([("phase", [2])] if phase else [])


def check_layout(observation: dict[str, Any], num_bodies: int, num_target_steps: int, phase: bool) -> None:
    expected = deepmimic_layout(num_bodies, num_target_steps, phase)
    got = [(p["name"], list(p["shape"])) for p in observation["parts"]]
    if got != expected:
        raise ValueError(f"the metadata's observation layout {got} is not DeepMimic's {expected}")
    starts = np.cumsum([0] + [int(np.prod(s)) for _, s in expected])
    if [p["start"] for p in observation["parts"]] != starts[:-1].tolist() or observation["dim"] != starts[-1]:
        raise ValueError("the metadata's observation part offsets do not add up to its dim")


def compute_char_obs(
    root_pos: np.ndarray,
    root_rot: np.ndarray,
    body_pos: np.ndarray,
    body_rot: np.ndarray,
    body_lin_vel: np.ndarray,
    body_ang_vel: np.ndarray,
) -> np.ndarray:
    """Root height, then the non-root bodies' positions relative to the root, every body's rotation (tan-norm 6D),
    linear and angular velocity, all in the root's heading frame. Root (3|4,), bodies (B, 3|4)."""
    heading_inv = np.broadcast_to(quat.heading_quat_inv(root_rot), (body_pos.shape[0], 4))
    local_pos = quat.quat_rotate(heading_inv, body_pos - root_pos)[1:]
    local_rot = quat.quat_to_tan_norm(quat.quat_mul(heading_inv, body_rot))
    local_lin_vel = quat.quat_rotate(heading_inv, body_lin_vel)
    local_ang_vel = quat.quat_rotate(heading_inv, body_ang_vel)
    return np.concatenate([root_pos[2:3], local_pos.ravel(), local_rot.ravel(), local_lin_vel.ravel(),
                           local_ang_vel.ravel()])


def compute_target_obs(
    root_pos: np.ndarray, root_rot: np.ndarray, ref_body_pos: np.ndarray, ref_body_rot: np.ndarray
) -> np.ndarray:
    """Reference body positions (relative to the simulated root) and rotations (6D) at K future steps, in the
    simulated character's heading frame: ref_body_pos (K, B, 3), ref_body_rot (K, B, 4) -> (K * B * 9,)."""
    heading_inv = np.broadcast_to(quat.heading_quat_inv(root_rot), (*ref_body_pos.shape[:2], 4))
    rel_pos = quat.quat_rotate(heading_inv, ref_body_pos - root_pos)
    rel_rot = quat.quat_to_tan_norm(quat.quat_mul(heading_inv, ref_body_rot))
    return np.concatenate([rel_pos, rel_rot], axis=-1).ravel()


def compute_phase_obs(phase: np.ndarray) -> np.ndarray:
    """Phase in [0, 1) on the unit circle: (sin, cos) of 2 pi phase."""
    angle = 2.0 * np.pi * phase
    return np.array([np.sin(angle), np.cos(angle)]).ravel()
