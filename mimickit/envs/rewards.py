"""DeepMimic imitation reward terms (Peng et al. 2018, eq. 4-9): each is exp(-scale * error) in [0, 1].

An env's YAML lists its terms as a table, `reward: {pose: {weight: 0.5, scale: 0.25}, vel: {...}, ...}`, read into
`RewardTerm`s by `reward_table`; the total is the weighted sum in the table's order. A term whose weight is 0 or null
is not computed (nor logged). `IMITATION_TERMS` maps each name to its term, a pure function of the simulated and the
reference frame, the error scale and the body indices (`TrackedBodies`).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Optional

import torch

from mimickit.anim import rotations as rot

if TYPE_CHECKING:
    from mimickit.anim.motion_lib import MotionFrame


@dataclass(frozen=True)
class RewardTerm:
    """One row of a reward table (conf/env/deepmimic.yaml `reward:`)."""

    weight: Optional[float]  # share of the term in the total; 0 or null: not computed, not logged
    scale: float  # k of exp(-k * error)


class TrackedBodies(NamedTuple):
    """Body indices the terms need besides the two frames."""

    parents: torch.Tensor  # (num_bodies,) parent of each body, -1 for the root
    key_body_ids: torch.Tensor  # (K,) end effectors of the key-position term


ImitationTerm = Callable[["MotionFrame", "MotionFrame", float, TrackedBodies], torch.Tensor]


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


def compute_root_relative_tracking_error(body_pos: torch.Tensor, ref_body_pos: torch.Tensor) -> torch.Tensor:
    """MPJPE: mean over bodies of |(p_b - p_root) - (p_b_ref - p_root_ref)|, (N, B, 3) -> (N,); the root itself
    counts with error 0 (as in PHC/ProtoMotions' `mpjpe`). The pose alone: a root offset does not count."""
    return compute_tracking_error(body_pos - body_pos[:, :1], ref_body_pos - ref_body_pos[:, :1])


def compute_joint_rot(body_rot: torch.Tensor, parents: torch.Tensor) -> torch.Tensor:
    """Each non-root body's rotation relative to its parent, (N, B, 4) -> (N, B-1, 4). Constant body-frame offsets
    cancel when two such rotations are compared, so this serves the pose reward without the joint layout."""
    return rot.quat_mul(rot.quat_conjugate(body_rot[:, parents[1:]]), body_rot[:, 1:])


# ---- the terms of the reward table: (simulated frame, reference frame, scale, bodies) -> (N,) ----
def pose_term(sim: MotionFrame, ref: MotionFrame, scale: float, bodies: TrackedBodies) -> torch.Tensor:
    sim_joint_rot = compute_joint_rot(sim.body_rot, bodies.parents)
    return joint_rot_err_exp(sim_joint_rot, compute_joint_rot(ref.body_rot, bodies.parents), scale)


def vel_term(sim: MotionFrame, ref: MotionFrame, scale: float, bodies: TrackedBodies) -> torch.Tensor:
    return dof_vel_err_exp(sim.dof_vel, ref.dof_vel, scale)


def root_pose_term(sim: MotionFrame, ref: MotionFrame, scale: float, bodies: TrackedBodies) -> torch.Tensor:
    return root_pose_err_exp(sim.root_pos, sim.root_rot, ref.root_pos, ref.root_rot, scale)


def root_vel_term(sim: MotionFrame, ref: MotionFrame, scale: float, bodies: TrackedBodies) -> torch.Tensor:
    return root_vel_err_exp(sim.root_lin_vel, sim.root_ang_vel, ref.root_lin_vel, ref.root_ang_vel, scale)


def key_pos_term(sim: MotionFrame, ref: MotionFrame, scale: float, bodies: TrackedBodies) -> torch.Tensor:
    ids = bodies.key_body_ids
    return key_body_pos_err_exp(sim.body_pos[:, ids], sim.root_pos, ref.body_pos[:, ids], ref.root_pos, scale)


IMITATION_TERMS: dict[str, ImitationTerm] = {
    "pose": pose_term,
    "vel": vel_term,
    "root_pose": root_pose_term,
    "root_vel": root_vel_term,
    "key_pos": key_pos_term,
}


def reward_table(table: Mapping[str, Mapping], known: Mapping[str, ImitationTerm]) -> dict[str, RewardTerm]:
    """The rows of a YAML reward table that count (weight neither 0 nor null), in the table's order; a name that is
    not a known term is refused, naming the known ones."""
    unknown = [name for name in table if name not in known]
    if unknown:
        raise ValueError(f"unknown reward terms {unknown}; known: {list(known)}")
    rows = {name: RewardTerm(**row) for name, row in table.items()}
    return {name: row for name, row in rows.items() if row.weight}


def compute_reward_terms(
    sim: MotionFrame,
    ref: MotionFrame,
    table: Mapping[str, RewardTerm],
    bodies: TrackedBodies,
    terms: Mapping[str, ImitationTerm] = IMITATION_TERMS,
) -> dict[str, torch.Tensor]:
    """Each term of `table` (as `reward_table` returns it: only those that count), (N,) each, in its order."""
    return {name: terms[name](sim, ref, row.scale, bodies) for name, row in table.items()}


def compute_weighted_sum(
    values: Mapping[str, torch.Tensor], table: Mapping[str, RewardTerm], like: torch.Tensor
) -> torch.Tensor:
    """Sum of weight x value in the table's order, added left to right: ((w0 v0 + w1 v1) + w2 v2) + ...;
    zeros like `like` (N,) when no term counts."""
    total = None
    for name, row in table.items():
        weighted = row.weight * values[name]
        total = weighted if total is None else total + weighted
    return torch.zeros_like(like) if total is None else total
