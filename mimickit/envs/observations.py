"""Observation terms: pure functions of batched state tensors, expressed in the character's heading frame."""
from __future__ import annotations

import torch

from mimickit.anim import rotations as rot


def compute_char_obs(
    root_pos: torch.Tensor,
    root_rot: torch.Tensor,
    body_pos: torch.Tensor,
    body_rot: torch.Tensor,
    body_lin_vel: torch.Tensor,
    body_ang_vel: torch.Tensor,
) -> torch.Tensor:
    """DeepMimic's body-based state: root height, then every body's position (relative to the root), rotation
    (tangent-normal 6D) and linear/angular velocity, all in the root's heading frame.

    Shapes: root (N, 3|4), bodies (N, B, 3|4). Returns (N, 1 + 3(B-1) + 6B + 3B + 3B)."""
    num_bodies = body_pos.shape[1]
    heading_inv = rot.heading_quat_inv(root_rot).unsqueeze(1).expand(-1, num_bodies, -1)
    local_pos = rot.quat_rotate(heading_inv, body_pos - root_pos.unsqueeze(1))[:, 1:]
    local_rot = rot.quat_to_tan_norm(rot.quat_mul(heading_inv, body_rot))
    local_lin_vel = rot.quat_rotate(heading_inv, body_lin_vel)
    local_ang_vel = rot.quat_rotate(heading_inv, body_ang_vel)
    n = root_pos.shape[0]
    return torch.cat(
        [
            root_pos[:, 2:3],
            local_pos.reshape(n, -1),
            local_rot.reshape(n, -1),
            local_lin_vel.reshape(n, -1),
            local_ang_vel.reshape(n, -1),
        ],
        dim=-1,
    )


def compute_target_obs(
    root_pos: torch.Tensor,
    root_rot: torch.Tensor,
    ref_body_pos: torch.Tensor,
    ref_body_rot: torch.Tensor,
) -> torch.Tensor:
    """Reference poses at future steps seen from the simulated character's heading frame.

    root_pos (N, 3), root_rot (N, 4); ref_body_pos (N, K, B, 3), ref_body_rot (N, K, B, 4) for K future steps.
    Returns (N, K * B * 9): body positions relative to the character's root and body rotations (6D)."""
    n, k, b = ref_body_pos.shape[:3]
    heading_inv = rot.heading_quat_inv(root_rot)[:, None, None, :].expand(-1, k, b, -1)
    rel_pos = rot.quat_rotate(heading_inv, ref_body_pos - root_pos[:, None, None, :])
    rel_rot = rot.quat_to_tan_norm(rot.quat_mul(heading_inv, ref_body_rot))
    return torch.cat([rel_pos, rel_rot], dim=-1).reshape(n, -1)


def compute_phase_obs(phase: torch.Tensor) -> torch.Tensor:
    """Phase in [0, 1) of a clip encoded on the unit circle, (N,) -> (N, 2)."""
    angle = 2.0 * torch.pi * phase
    return torch.stack([torch.sin(angle), torch.cos(angle)], dim=-1)
