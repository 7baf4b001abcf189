"""Tracking metrics of a simulated character against its reference, per frame: pure tensor functions.

Each takes a batch of N frames (body positions (N, B, 3) in metres, body rotations (N, B, 4) xyzw, body 0 the root)
and returns (N,) values; `compute_frame_errors` gathers them into one record. docs/evaluation.md defines each one;
the evaluator (mimickit.eval.evaluator) averages them over an episode's frames and a clip's episodes.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from mimickit.anim import rotations as rot
from mimickit.envs.rewards import compute_joint_rot, compute_root_relative_tracking_error, compute_tracking_error


class FrameErrors(NamedTuple):
    """One frame's errors per env, (N,) each."""

    body_pos: torch.Tensor  # m, mean over bodies of the world-frame position error (ProtoMotions' gt_err)
    mpjpe: torch.Tensor  # m, the same with each character's root position subtracted first
    joint_angle: torch.Tensor  # rad, mean over joints of the angle of the relative joint rotation
    root_drift: torch.Tensor  # m, horizontal distance between the roots


def joint_angle_err(body_rot: torch.Tensor, ref_body_rot: torch.Tensor, parents: torch.Tensor) -> torch.Tensor:
    """Mean over the non-root bodies of the angle (rad, in [0, pi]) of q_joint_ref^-1 q_joint, where q_joint is a
    body's rotation relative to its parent; (N, B, 4) -> (N,)."""
    joint, ref_joint = compute_joint_rot(body_rot, parents), compute_joint_rot(ref_body_rot, parents)
    return rot.quat_diff_angle(joint, ref_joint).mean(-1)


def root_drift_xy(root_pos: torch.Tensor, ref_root_pos: torch.Tensor) -> torch.Tensor:
    """Horizontal (x, y) distance between the roots, (N, 3) -> (N,)."""
    return (root_pos[:, :2] - ref_root_pos[:, :2]).norm(dim=-1)


def compute_frame_errors(
    body_pos: torch.Tensor,
    body_rot: torch.Tensor,
    ref_body_pos: torch.Tensor,
    ref_body_rot: torch.Tensor,
    parents: torch.Tensor,
) -> FrameErrors:
    """Every per-frame metric of one batch of frames."""
    return FrameErrors(
        body_pos=compute_tracking_error(body_pos, ref_body_pos),  # the env's tracking error
        mpjpe=compute_root_relative_tracking_error(body_pos, ref_body_pos),
        joint_angle=joint_angle_err(body_rot, ref_body_rot, parents),
        root_drift=root_drift_xy(body_pos[:, 0], ref_body_pos[:, 0]),
    )


def phase_bin(times: torch.Tensor, lengths: torch.Tensor, num_bins: int) -> torch.Tensor:
    """Index in [0, num_bins) of each clip time's phase, time / length, cut into equal bins (a time past the end
    falls into the last bin), (N,) -> (N,) long."""
    phase = times / lengths.clamp_min(1e-6)
    return (phase * num_bins).floor().long().clamp_(0, num_bins - 1)
