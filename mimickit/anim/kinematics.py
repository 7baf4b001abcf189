"""Kinematic model of a character read from its MJCF by MuJoCo's own parser, with batched torch kinematics.

Three representations of a pose meet here:
- clip frames: `[root pos (3), root rot (3, exp map), frame dofs]`; a 3-hinge body's rotation is one exp map;
- dof positions (`dof_pos`): the MuJoCo hinge angles an engine reports, in MJCF order; a 3-hinge body composes
  its angles as R = Rx(a) Ry(b) Rz(c);
- joint rotations (`joint_rot`): one body-local quaternion (xyzw) per non-root body, identity where a body has
  no joint. Both vectors have one column per hinge, so a clip's frame dofs and the dof positions line up.
"""
from __future__ import annotations

import functools
import enum
from dataclasses import dataclass

import mujoco
import numpy as np
import torch

from mimickit.anim import rotations as rot
from mimickit.anim.motion import ROOT_DIM
from mimickit.utils.paths import resolve_path

_AXES = np.eye(3)
_TOL = 1e-9


class JointType(enum.IntEnum):
    HINGE = 1  # one hinge: one angle about its axis
    SPHERICAL = 2  # three hinges with axes x, y, z on one body: an exp map in a clip, Euler xyz angles in qpos
    FIXED = 3  # welded to its parent


@dataclass(frozen=True)
class BodyJoint:
    """The joint moving one body, and where its values sit in the dof vector."""

    body: str
    joint_type: JointType
    dof_start: int
    dof_dim: int
    hinge_names: tuple[str, ...]


class KinematicCharacter:
    """Body tree, joint layout and batched FK of one character; tensors live on `device`."""

    def __init__(self, mjcf_file: str, device: str | torch.device = "cpu"):
        """mjcf_file: the character's MJCF (one free-floating body tree); device: torch device of all tensors."""
        mjcf_file = str(resolve_path(mjcf_file, "character MJCF"))
        model = mujoco.MjModel.from_xml_path(str(mjcf_file))
        self.mjcf_file = str(mjcf_file)
        self.device = torch.device(device)
        body_ids = _character_body_ids(model)
        self.body_names: list[str] = [model.body(b).name for b in body_ids]
        index_of = {b: i for i, b in enumerate(body_ids)}
        self.parent_indices = torch.tensor(
            [-1] + [index_of[int(model.body_parentid[b])] for b in body_ids[1:]], dtype=torch.long, device=self.device
        )
        self._parent_list = self.parent_indices.tolist()
        self.local_pos = torch.tensor(model.body_pos[body_ids], dtype=torch.float32, device=self.device)
        self.local_rot = rot.quat_from_wxyz(torch.tensor(model.body_quat[body_ids], dtype=torch.float32)).to(self.device)
        self.joints, hinge_ids, hinge_axes = _parse_joints(model, body_ids)
        self.dof_names: list[str] = [name for j in self.joints for name in j.hinge_names]
        dof_low, dof_high = _dof_ranges(model, hinge_ids)
        self.dof_low = torch.tensor(dof_low, dtype=torch.float32, device=self.device)
        self.dof_high = torch.tensor(dof_high, dtype=torch.float32, device=self.device)
        self.root_qpos_adr = int(model.jnt_qposadr[model.body_jntadr[body_ids[0]]])
        self.dof_qpos_adr = torch.tensor(model.jnt_qposadr[hinge_ids], dtype=torch.long, device=self.device)
        self.nq = int(model.nq)
        self._build_index_tables(hinge_axes)

    # ---- sizes and names ----
    @property
    def num_bodies(self) -> int:
        return len(self.body_names)

    @property
    def num_joints(self) -> int:
        """Joint slots: one per non-root body (fixed bodies included, with identity rotation)."""
        return self.num_bodies - 1

    @property
    def num_dofs(self) -> int:
        return len(self.dof_names)

    @property
    def frame_dim(self) -> int:
        return ROOT_DIM + self.num_dofs

    def body_id(self, name: str) -> int:
        if name not in self.body_names:
            raise KeyError(f"unknown body {name!r}; the character has bodies {self.body_names}")
        return self.body_names.index(name)

    # ---- joint rotations <-> dof positions / frame dofs ----
    def dof_to_joint_rot(self, dof_pos: torch.Tensor) -> torch.Tensor:
        """Hinge angles (..., num_dofs) -> body-local joint rotations (..., num_joints, 4)."""
        self._check_last_dim(dof_pos, self.num_dofs, "dof_pos")
        spherical = rot.quat_from_euler_xyz(dof_pos[..., self._sph_dof_idx])
        return self._assemble_joint_rot(spherical, dof_pos)

    def joint_rot_to_dof(self, joint_rot: torch.Tensor, near: torch.Tensor | None = None) -> torch.Tensor:
        """Body-local joint rotations (..., num_joints, 4) -> hinge angles (..., num_dofs).

        A 3-hinge body gets the Euler xyz solution that lies inside (or nearest to) its joint ranges, so angles
        inside the ranges come back exactly; every angle is wrapped into the 2*pi window centred on its range.
        Given `near` (..., num_dofs), each joint instead takes the solution closest to it, written as
        near + (difference wrapped to +-pi): what keeps a trajectory continuous.
        """
        self._check_joint_rot(joint_rot)
        quats = joint_rot[..., self._sph_joint_idx, :]
        if near is None:
            return self.wrap_dof_pos(self._assemble_dofs(self._spherical_dofs(quats), joint_rot))
        self._check_last_dim(near, self.num_dofs, "near")
        dofs = self._assemble_dofs(compute_euler_xyz_near(quats, near[..., self._sph_dof_idx]), joint_rot)
        return near + rot.wrap_angle(dofs - near)

    def joint_rot_to_dof_vel(
        self,
        joint_rot_prev: torch.Tensor,
        joint_rot_next: torch.Tensor,
        dt: torch.Tensor | float,
        dof_pos: torch.Tensor,
    ) -> torch.Tensor:
        """Hinge angle rates (..., num_dofs) at pose `dof_pos`, from the joint rotations `dt` seconds apart around it.

        Works on rotations, so it is indifferent to which Euler solution either neighbour was written in: the
        joint's angular velocity in its own frame is mapped through the inverse Euler-rate Jacobian at `dof_pos`
        (what MuJoCo reports as qvel for three stacked hinges); a 1-hinge joint takes the component on its axis.
        `dt` is a float or a tensor of the batch shape (...).
        """
        self._check_joint_rot(joint_rot_prev)
        self._check_joint_rot(joint_rot_next)
        if isinstance(dt, torch.Tensor):
            dt = dt[..., None, None]
        omega_parent = rot.quat_to_exp_map(rot.quat_mul(joint_rot_next, rot.quat_conjugate(joint_rot_prev))) / dt
        omega_local = rot.quat_rotate_inverse(self.dof_to_joint_rot(dof_pos), omega_parent)
        spherical = compute_euler_xyz_rates(dof_pos[..., self._sph_dof_idx], omega_local[..., self._sph_joint_idx, :])
        hinge = (omega_local[..., self._hinge_joint_idx, :] * self._hinge_axes.to(dof_pos.dtype)).sum(-1)
        flat = spherical.reshape(*spherical.shape[:-2], -1)
        return torch.cat([flat, hinge], dim=-1)[..., self._dof_order]

    def frame_dofs_to_joint_rot(self, frame_dofs: torch.Tensor) -> torch.Tensor:
        """Clip dof values (..., num_dofs: exp maps and hinge angles) -> joint rotations (..., num_joints, 4)."""
        self._check_last_dim(frame_dofs, self.num_dofs, "frame dofs")
        spherical = rot.exp_map_to_quat(frame_dofs[..., self._sph_dof_idx])
        return self._assemble_joint_rot(spherical, frame_dofs)

    def joint_rot_to_frame_dofs(self, joint_rot: torch.Tensor) -> torch.Tensor:
        """Joint rotations (..., num_joints, 4) -> clip dof values (exp maps for 3-hinge bodies, hinge angles)."""
        self._check_joint_rot(joint_rot)
        spherical = rot.quat_to_exp_map(joint_rot[..., self._sph_joint_idx, :])
        return self._assemble_dofs(spherical, joint_rot)

    # ---- clip frames <-> engine state ----
    def frame_to_dof_pos(self, frames: torch.Tensor) -> torch.Tensor:
        """Clip frames (..., frame_dim) -> hinge angles (..., num_dofs); 1-hinge values pass through unchanged."""
        self._check_last_dim(frames, self.frame_dim, "frames")
        frame_dofs = frames[..., ROOT_DIM:]
        euler = self._spherical_dofs(rot.exp_map_to_quat(frame_dofs[..., self._sph_dof_idx]))
        return self._replace_spherical_columns(frame_dofs, euler)

    def wrap_dof_pos(self, dof_pos: torch.Tensor) -> torch.Tensor:
        """Shift each hinge angle by a multiple of 2*pi into the 2*pi window centred on its joint range."""
        self._check_last_dim(dof_pos, self.num_dofs, "dof_pos")
        return _wrap_to_range(dof_pos, self.dof_low.to(dof_pos.dtype), self.dof_high.to(dof_pos.dtype))

    def frame_to_root(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Clip frames -> root position (..., 3) and root rotation quaternion (..., 4)."""
        self._check_last_dim(frames, self.frame_dim, "frames")
        return frames[..., 0:3], rot.exp_map_to_quat(frames[..., 3:ROOT_DIM])

    def dof_pos_to_frame(self, root_pos: torch.Tensor, root_rot: torch.Tensor, dof_pos: torch.Tensor) -> torch.Tensor:
        """Root position, root quaternion (xyzw) and hinge angles -> clip frames (..., frame_dim)."""
        self._check_last_dim(dof_pos, self.num_dofs, "dof_pos")
        exp_maps = rot.quat_to_exp_map(rot.quat_from_euler_xyz(dof_pos[..., self._sph_dof_idx]))
        frame_dofs = self._replace_spherical_columns(dof_pos, exp_maps)
        return torch.cat([root_pos, rot.quat_to_exp_map(root_rot), frame_dofs], dim=-1)

    def frame_to_qpos(self, frames: torch.Tensor) -> torch.Tensor:
        """Clip frames -> MuJoCo qpos (..., nq): free joint (pos, wxyz quat) and hinge angles at their addresses."""
        root_pos, root_rot = self.frame_to_root(frames)
        qpos = frames.new_zeros(*frames.shape[:-1], self.nq)
        qpos[..., self.root_qpos_adr : self.root_qpos_adr + 3] = root_pos
        qpos[..., self.root_qpos_adr + 3 : self.root_qpos_adr + 7] = rot.quat_to_wxyz(root_rot)
        qpos[..., self.dof_qpos_adr] = self.frame_to_dof_pos(frames)
        return qpos

    def qpos_to_frame(self, qpos: torch.Tensor) -> torch.Tensor:
        """MuJoCo qpos (..., nq) -> clip frames (..., frame_dim)."""
        self._check_last_dim(qpos, self.nq, "qpos")
        root_pos = qpos[..., self.root_qpos_adr : self.root_qpos_adr + 3]
        root_rot = rot.quat_normalize(rot.quat_from_wxyz(qpos[..., self.root_qpos_adr + 3 : self.root_qpos_adr + 7]))
        return self.dof_pos_to_frame(root_pos, root_rot, qpos[..., self.dof_qpos_adr])

    # ---- forward kinematics ----
    def forward_kinematics(
        self, root_pos: torch.Tensor, root_rot: torch.Tensor, joint_rot: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """World body positions (..., num_bodies, 3) and rotations (..., num_bodies, 4) of a pose."""
        self._check_joint_rot(joint_rot)
        return compute_forward_kinematics(
            root_pos,
            root_rot,
            joint_rot,
            self._parent_list,
            self.local_pos.to(root_pos.dtype),
            self.local_rot.to(root_rot.dtype),
        )

    def forward_kinematics_dof(
        self, root_pos: torch.Tensor, root_rot: torch.Tensor, dof_pos: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """FK from hinge angles (what an engine reports)."""
        return self.forward_kinematics(root_pos, root_rot, self.dof_to_joint_rot(dof_pos))

    # ---- internals ----
    def _build_index_tables(self, hinge_axes: dict[int, np.ndarray]) -> None:
        """Gather indices that let every conversion run as a few batched ops (no loop over joints)."""
        spherical = [j for j in self.joints if j.joint_type == JointType.SPHERICAL]
        hinges = [j for j in self.joints if j.joint_type == JointType.HINGE]
        joint_index = {j.body: i for i, j in enumerate(self.joints)}
        dev = self.device
        self._sph_joint_idx = torch.tensor([joint_index[j.body] for j in spherical], dtype=torch.long, device=dev)
        self._sph_dof_idx = torch.tensor(
            [[j.dof_start + k for k in range(3)] for j in spherical], dtype=torch.long, device=dev
        ).reshape(-1, 3)
        self._hinge_joint_idx = torch.tensor([joint_index[j.body] for j in hinges], dtype=torch.long, device=dev)
        self._hinge_dof_idx = torch.tensor([j.dof_start for j in hinges], dtype=torch.long, device=dev)
        self._hinge_axes = torch.tensor(
            np.array([hinge_axes[j.dof_start] for j in hinges]).reshape(-1, 3), dtype=torch.float32, device=dev
        )
        # joint slot order of cat([spherical, hinge, fixed]) -> joint order
        fixed = [i for i, j in enumerate(self.joints) if j.joint_type == JointType.FIXED]
        stacked = self._sph_joint_idx.tolist() + self._hinge_joint_idx.tolist() + fixed
        self._joint_order = torch.argsort(torch.tensor(stacked, dtype=torch.long)).to(dev)
        self._num_fixed = len(fixed)
        # dof order of cat([spherical values (flattened), hinge values]) -> dof order
        stacked_dofs = self._sph_dof_idx.reshape(-1).tolist() + self._hinge_dof_idx.tolist()
        self._dof_order = torch.argsort(torch.tensor(stacked_dofs, dtype=torch.long)).to(dev)
        self._sph_dof_flat = self._sph_dof_idx.reshape(-1)

    def _spherical_dofs(self, quats: torch.Tensor) -> torch.Tensor:
        low, high = self.dof_low[self._sph_dof_idx], self.dof_high[self._sph_dof_idx]
        return compute_euler_xyz_in_range(quats, low.to(quats.dtype), high.to(quats.dtype))

    def _assemble_joint_rot(self, spherical: torch.Tensor, dofs: torch.Tensor) -> torch.Tensor:
        hinge = rot.quat_from_axis_angle(self._hinge_axes.to(dofs.dtype), dofs[..., self._hinge_dof_idx])
        fixed = rot.quat_identity((*dofs.shape[:-1], self._num_fixed), device=dofs.device, dtype=dofs.dtype)
        return torch.cat([spherical, hinge, fixed], dim=-2)[..., self._joint_order, :]

    def _assemble_dofs(self, spherical: torch.Tensor, joint_rot: torch.Tensor) -> torch.Tensor:
        hinge = rot.quat_twist_angle(joint_rot[..., self._hinge_joint_idx, :], self._hinge_axes.to(joint_rot.dtype))
        flat = spherical.reshape(*spherical.shape[:-2], -1)
        return torch.cat([flat, hinge], dim=-1)[..., self._dof_order]

    def _replace_spherical_columns(self, dofs: torch.Tensor, spherical: torch.Tensor) -> torch.Tensor:
        out = dofs.clone()
        out[..., self._sph_dof_flat] = spherical.reshape(*spherical.shape[:-2], -1)
        return out

    def _check_joint_rot(self, joint_rot: torch.Tensor) -> None:
        if joint_rot.dim() < 2 or joint_rot.shape[-2:] != (self.num_joints, 4):
            raise ValueError(
                f"joint_rot must have shape (..., {self.num_joints}, 4) (one quaternion per non-root body), "
                f"got {tuple(joint_rot.shape)}"
            )

    @staticmethod
    def _check_last_dim(x: torch.Tensor, size: int, name: str) -> None:
        if x.dim() < 1 or x.shape[-1] != size:
            raise ValueError(f"{name} must have shape (..., {size}), got {tuple(x.shape)}")


def compute_forward_kinematics(
    root_pos: torch.Tensor,
    root_rot: torch.Tensor,
    joint_rot: torch.Tensor,
    parent_indices: list[int],
    local_pos: torch.Tensor,
    local_rot: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Walk the tree root-first: x_child = x_parent + R_parent * offset, R_child = R_parent * (R_offset * R_joint).

    The bodies of one tree depth are computed together: the humanoid's 15 bodies take 5 steps instead of 14, which
    matters on a GPU where every step is a handful of small kernel launches.
    """
    batch = root_pos.shape[:-1]
    num_bodies = len(parent_indices)
    local = rot.quat_mul(local_rot[1:].expand_as(joint_rot), joint_rot)  # offset * joint of every non-root body
    body_pos = root_pos.new_empty(*batch, num_bodies, 3)
    body_rot = root_rot.new_empty(*batch, num_bodies, 4)
    body_pos[..., 0, :] = root_pos
    body_rot[..., 0, :] = root_rot
    for children, parents in _depth_levels(tuple(parent_indices), root_pos.device):
        parent_pos, parent_rot = body_pos.index_select(-2, parents), body_rot.index_select(-2, parents)
        offset = local_pos.index_select(0, children).expand_as(parent_pos)
        body_pos.index_copy_(-2, children, parent_pos + rot.quat_rotate(parent_rot, offset))
        body_rot.index_copy_(-2, children, rot.quat_mul(parent_rot, local.index_select(-2, children - 1)))
    return body_pos, body_rot


@functools.cache
def _depth_levels(parent_indices: tuple[int, ...], device: torch.device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(children, their parents) index tensors of each tree depth below the root, shallowest first."""
    depth = [0] * len(parent_indices)
    for body in range(1, len(parent_indices)):
        depth[body] = depth[parent_indices[body]] + 1
    levels = []
    for level in range(1, max(depth, default=0) + 1):
        children = [b for b in range(1, len(parent_indices)) if depth[b] == level]
        levels.append((torch.tensor(children, device=device), torch.tensor([parent_indices[b] for b in children], device=device)))
    return levels


def compute_euler_xyz_in_range(quats: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Euler xyz angles (..., 3) of `quats` (..., 4), choosing between the two solutions of every rotation.

    (a, b, c) and (a + pi, pi - b, c + pi) give the same rotation; the principal one has |b| <= pi/2, but a hip may
    bend past that. Each solution is wrapped into the 2*pi window centred on the ranges [low, high] and the one
    with the smaller range violation wins (the principal one on ties).
    """
    principal = rot.quat_to_euler_xyz(quats)
    flipped = _flip_euler(principal)
    principal, flipped = _wrap_to_range(principal, low, high), _wrap_to_range(flipped, low, high)
    use_flipped = _range_violation(flipped, low, high) < _range_violation(principal, low, high)
    return torch.where(use_flipped.unsqueeze(-1), flipped, principal)


def compute_euler_xyz_near(quats: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """The Euler xyz solution of `quats` (..., 4) closest to `reference` (..., 3), as reference + wrapped step."""
    principal = rot.quat_to_euler_xyz(quats)
    steps = rot.wrap_angle(torch.stack([principal, _flip_euler(principal)], dim=-2) - reference.unsqueeze(-2))
    use_flipped = steps[..., 1, :].abs().sum(-1) < steps[..., 0, :].abs().sum(-1)
    return reference + torch.where(use_flipped.unsqueeze(-1), steps[..., 1, :], steps[..., 0, :])


def compute_euler_xyz_rates(angles: torch.Tensor, omega_local: torch.Tensor, min_cos: float = 1e-3) -> torch.Tensor:
    """Euler xyz angle rates (..., 3) from the angular velocity in the rotated (child) frame.

    For R = Rx(a) Ry(b) Rz(c): omega = a' (cb cc, -cb sc, sb) + b' (sc, cc, 0) + c' (0, 0, 1), inverted below;
    singular at the gimbal lock (cos b = 0), where |cos b| is clamped to `min_cos` to stay finite.
    """
    _, b, c = angles.unbind(-1)
    wx, wy, wz = omega_local.unbind(-1)
    cb, sb, cc, sc = torch.cos(b), torch.sin(b), torch.cos(c), torch.sin(c)
    cb = torch.where(cb >= 0, cb.clamp_min(min_cos), cb.clamp_max(-min_cos))
    a_rate = (wx * cc - wy * sc) / cb
    b_rate = wx * sc + wy * cc
    c_rate = wz - a_rate * sb
    return torch.stack([a_rate, b_rate, c_rate], dim=-1)


def _flip_euler(angles: torch.Tensor) -> torch.Tensor:
    """The other Euler xyz solution of the same rotation: (a + pi, pi - b, c + pi)."""
    a, b, c = angles.unbind(-1)
    return torch.stack([a + torch.pi, torch.where(b >= 0, torch.pi - b, -torch.pi - b), c + torch.pi], dim=-1)


def _wrap_to_range(angle: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    centre = 0.5 * (low + high)
    return centre + rot.wrap_angle(angle - centre)


def _range_violation(angles: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    return ((low - angles).clamp_min(0) + (angles - high).clamp_min(0)).sum(-1)


def _dof_ranges(model: mujoco.MjModel, hinge_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Joint ranges in radians (MuJoCo converts degrees at compile time); an unlimited hinge gets [-pi, pi]."""
    limited = model.jnt_limited[hinge_ids].astype(bool)
    low = np.where(limited, model.jnt_range[hinge_ids, 0], -np.pi)
    high = np.where(limited, model.jnt_range[hinge_ids, 1], np.pi)
    return low, high


def _character_body_ids(model: mujoco.MjModel) -> list[int]:
    """The bodies of the single free-floating tree under the world body, in MuJoCo's (depth-first) order."""
    roots = [b for b in range(1, model.nbody) if model.body_parentid[b] == 0]
    if len(roots) != 1:
        names = [model.body(b).name for b in roots]
        raise ValueError(f"the character MJCF must have exactly one body under <worldbody>, found {names}")
    root = roots[0]
    root_joints = range(model.body_jntadr[root], model.body_jntadr[root] + model.body_jntnum[root])
    if len(root_joints) != 1 or model.jnt_type[root_joints[0]] != mujoco.mjtJoint.mjJNT_FREE:
        raise ValueError(f"the root body {model.body(root).name!r} must have exactly one free joint")
    return [b for b in range(1, model.nbody) if model.body_rootid[b] == root]


def _parse_joints(model: mujoco.MjModel, body_ids: list[int]) -> tuple[list[BodyJoint], list[int], dict[int, np.ndarray]]:
    """Classify each non-root body's joints: none (fixed), one hinge, or three hinges with axes x, y, z.

    Returns the joints, the MuJoCo ids of all hinges in dof order, and each 1-hinge joint's axis by dof index.
    """
    joints: list[BodyJoint] = []
    hinge_ids: list[int] = []
    hinge_axes: dict[int, np.ndarray] = {}
    for b in body_ids[1:]:
        name = model.body(b).name
        ids = list(range(model.body_jntadr[b], model.body_jntadr[b] + model.body_jntnum[b]))
        for j in ids:
            _check_hinge(model, j, name)
        axes = [model.jnt_axis[j] / np.linalg.norm(model.jnt_axis[j]) for j in ids]
        if not ids:
            joint_type = JointType.FIXED
        elif len(ids) == 1:
            joint_type = JointType.HINGE
            hinge_axes[len(hinge_ids)] = axes[0]
        elif len(ids) == 3 and all(np.allclose(a, e, atol=1e-6) for a, e in zip(axes, _AXES)):
            joint_type = JointType.SPHERICAL
        else:
            raise ValueError(
                f"body {name!r} has {len(ids)} hinges with axes {[a.round(3).tolist() for a in axes]}; supported "
                "are no joint, one hinge, or three hinges with axes x, y, z (in that order)"
            )
        hinge_names = tuple(model.joint(j).name or f"{name}:{k}" for k, j in enumerate(ids))
        joints.append(BodyJoint(name, joint_type, len(hinge_ids), len(ids), hinge_names))
        hinge_ids.extend(ids)
    return joints, hinge_ids, hinge_axes


def _check_hinge(model: mujoco.MjModel, j: int, body: str) -> None:
    name = model.joint(j).name
    if model.jnt_type[j] != mujoco.mjtJoint.mjJNT_HINGE:
        kind = mujoco.mjtJoint(model.jnt_type[j]).name
        raise ValueError(f"joint {name!r} of body {body!r} is {kind}; only hinges are supported below the root")
    if np.abs(model.jnt_pos[j]).max() > _TOL:
        raise ValueError(f"hinge {name!r} of body {body!r} is offset from the body origin (pos={model.jnt_pos[j]})")
    if abs(model.qpos0[model.jnt_qposadr[j]]) > _TOL:
        raise ValueError(f"hinge {name!r} of body {body!r} has a nonzero reference angle (ref), not supported")
