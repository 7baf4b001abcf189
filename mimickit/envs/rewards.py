"""DeepMimic imitation reward terms (Peng et al. 2018, eq. 4-9): each is exp(-scale * error) in [0, 1]."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from mimickit.anim import rotations as rot


@dataclass(frozen=True)
class ImitationWeights:
    """Weight and error scale of each term (values in conf/env/deepmimic*.yaml); a weight of 0 drops the term
    from the sum (it is still logged)."""

    pose_w: float
    vel_w: float
    root_pose_w: float
    root_vel_w: float
    key_pos_w: float
    pose_scale: float
    vel_scale: float
    root_pose_scale: float
    root_vel_scale: float
    key_pos_scale: float


def joint_rot_err_exp(joint_rot: torch.Tensor, ref_joint_rot: torch.Tensor, scale: float) -> torch.Tensor:
    """Pose: summed squared angle between simulated and reference joint rotations, (N, J, 4)."""
    err = rot.quat_diff_angle(joint_rot, ref_joint_rot).square().sum(-1)
    return torch.exp(-scale * err)


def dof_vel_err_exp(dof_vel: torch.Tensor, ref_dof_vel: torch.Tensor, scale: float) -> torch.Tensor:
    """Velocity: summed squared joint-velocity error, (N, D)."""
    return torch.exp(-scale * (dof_vel - ref_dof_vel).square().sum(-1))


def root_pose_err_exp(
    root_pos: torch.Tensor, root_rot: torch.Tensor, ref_root_pos: torch.Tensor, ref_root_rot: torch.Tensor, scale: float
) -> torch.Tensor:
    """Root pose: squared position error plus 0.1 x squared rotation angle error."""
    pos_err = (root_pos - ref_root_pos).square().sum(-1)
    rot_err = rot.quat_diff_angle(root_rot, ref_root_rot).square()
    return torch.exp(-scale * (pos_err + 0.1 * rot_err))


def root_vel_err_exp(
    lin_vel: torch.Tensor, ang_vel: torch.Tensor, ref_lin_vel: torch.Tensor, ref_ang_vel: torch.Tensor, scale: float
) -> torch.Tensor:
    """Root velocity: squared linear plus 0.1 x squared angular velocity error."""
    err = (lin_vel - ref_lin_vel).square().sum(-1) + 0.1 * (ang_vel - ref_ang_vel).square().sum(-1)
    return torch.exp(-scale * err)


def key_body_pos_err_exp(
    key_pos: torch.Tensor, root_pos: torch.Tensor, ref_key_pos: torch.Tensor, ref_root_pos: torch.Tensor, scale: float
) -> torch.Tensor:
    """End effectors: summed squared error of key-body positions relative to the root, (N, K, 3)."""
    rel = key_pos - root_pos.unsqueeze(1)
    ref_rel = ref_key_pos - ref_root_pos.unsqueeze(1)
    return torch.exp(-scale * (rel - ref_rel).square().sum(-1).sum(-1))


def compute_tracking_error(body_pos: torch.Tensor, ref_body_pos: torch.Tensor) -> torch.Tensor:
    """Mean distance (m) between simulated and reference body positions, (N, B, 3) -> (N,)."""
    return (body_pos - ref_body_pos).norm(dim=-1).mean(-1)
