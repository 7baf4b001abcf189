"""Discriminator observations of AMP and ADD: a window of consecutive control frames, built by one pure function
(`compute_disc_obs`) from the simulated character's history and from motion-library clips alike.

A frame is the state MimicKit's discriminator sees (`DiscFrames`): root position, rotation and velocities, the
body-local joint rotations, DoF velocities and the positions of a chosen set of bodies. The simulated character's
last frames live in preallocated (num_envs, steps, ...) tensors (`DiscHistory`) updated in place without reading
anything back from the device, so the env's step and reset can run inside a CUDA graph.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import torch

from mimickit.anim import rotations as rot

if TYPE_CHECKING:
    from mimickit.anim.kinematics import KinematicCharacter
    from mimickit.anim.motion_lib import MotionLib
    from mimickit.sim.engine import Engine


class DiscFrames(NamedTuple):
    """Character states with leading dims (N,) for one frame or (N, T) for a window (oldest frame first).

    Velocities are world-frame, quaternions xyzw; `joint_rot` has one body-local rotation per non-root body
    (identity for a fixed one, as `KinematicCharacter.dof_to_joint_rot` gives); `body_pos` holds the positions of
    the bodies the discriminator looks at (AMP: key bodies, ADD: all of them)."""

    root_pos: torch.Tensor  # (..., 3)
    root_rot: torch.Tensor  # (..., 4)
    root_lin_vel: torch.Tensor  # (..., 3)
    root_ang_vel: torch.Tensor  # (..., 3)
    joint_rot: torch.Tensor  # (..., J, 4)
    dof_vel: torch.Tensor  # (..., D)
    body_pos: torch.Tensor  # (..., K, 3)


def disc_obs_frame_parts(num_joints: int, num_bodies: int, num_dofs: int, root_height_obs: bool) -> dict[str, int]:
    """The parts of one frame of `compute_disc_obs` and their sizes, in order: root pos (3, or 2 without the height),
    root rot (6), joint rots (6 J), body positions (3 K), root linear and angular velocity (3 + 3), DoF velocities
    (D)."""
    return {"root_pos": 3 if root_height_obs else 2, "root_rot": 6, "joint_rot": 6 * num_joints,
            "body_pos": 3 * num_bodies, "root_vel": 6, "dof_vel": num_dofs}


def disc_obs_frame_size(num_joints: int, num_bodies: int, num_dofs: int, root_height_obs: bool) -> int:
    """Length of one frame of `compute_disc_obs`."""
    return sum(disc_obs_frame_parts(num_joints, num_bodies, num_dofs, root_height_obs).values())


def compute_disc_obs(
    frames: DiscFrames,
    global_obs: bool,
    root_height_obs: bool,
    world_root_pos: bool = False,
    world_body_pos: bool = False,
) -> torch.Tensor:
    """MimicKit's discriminator observation of windows of T frames, (N, T, ...) -> (N, T * frame size),
    flattened frame-major (oldest frame first). Per frame, in this order:

    1. root position minus the newest frame's root position, with z replaced by the absolute root height
       (`root_height_obs`; else only x, y). `world_root_pos` (ADD with `global_obs`) keeps it in world coordinates;
    2. root rotation, tangent-normal (6);
    3. each joint's body-local rotation, tangent-normal (6 per joint);
    4. body positions minus the same frame's root position (3 per body); `world_body_pos` (ADD) keeps them in world
       coordinates, so that a root offset from the reference shows in every body's difference, not in 3 of ~170
       numbers;
    5. root linear and angular velocity (3 + 3);
    6. DoF velocities.

    `global_obs` leaves 1, 2, 4 and 5 in the world frame; otherwise they are rotated by the inverse heading of the
    window's newest frame (for T = 1, the frame's own heading), which makes the observation invariant to a turn of
    the whole motion about the vertical axis.
    """
    if world_root_pos and not global_obs:
        raise ValueError("world_root_pos needs global_obs (a world position has no heading frame)")
    if world_body_pos and not world_root_pos:
        raise ValueError("world_body_pos needs world_root_pos (ADD's world-frame discriminator frames)")
    root_pos, root_rot = frames.root_pos, frames.root_rot
    n, t = root_pos.shape[:2]
    pos = root_pos if world_root_pos else root_pos - root_pos[:, -1:]
    body_pos = frames.body_pos if world_body_pos else frames.body_pos - root_pos.unsqueeze(-2)
    lin_vel, ang_vel = frames.root_lin_vel, frames.root_ang_vel
    if not global_obs:
        heading_inv = rot.heading_quat_inv(root_rot[:, -1:]).expand(n, t, 4)
        pos = rot.quat_rotate(heading_inv, pos)
        root_rot = rot.quat_mul(heading_inv, root_rot)
        lin_vel = rot.quat_rotate(heading_inv, lin_vel)
        ang_vel = rot.quat_rotate(heading_inv, ang_vel)
        body_pos = rot.quat_rotate(heading_inv.unsqueeze(-2).expand(*body_pos.shape[:-1], 4), body_pos)
    pos = torch.cat([pos[..., :2], root_pos[..., 2:3]], dim=-1) if root_height_obs else pos[..., :2]
    obs = torch.cat(
        [
            pos,
            rot.quat_to_tan_norm(root_rot),
            rot.quat_to_tan_norm(frames.joint_rot).flatten(-2),
            body_pos.flatten(-2),
            lin_vel,
            ang_vel,
            frames.dof_vel,
        ],
        dim=-1,
    )
    return obs.reshape(n, -1)


def window_times(times: torch.Tensor, num_steps: int, dt: float) -> torch.Tensor:
    """(N,) times of the newest frames -> (N, num_steps) times t - k dt for k = num_steps - 1 .. 0."""
    offsets = torch.arange(num_steps - 1, -1, -1, device=times.device, dtype=times.dtype) * -dt
    return times.unsqueeze(-1) + offsets


def engine_disc_frame(engine: Engine, character: KinematicCharacter, body_ids: torch.Tensor) -> DiscFrames:
    """The simulated characters' current frame, (N, ...); joint rotations from the DoF positions, as MimicKit's
    `dof_to_rot` (1-DoF joints included)."""
    return DiscFrames(
        root_pos=engine.root_pos(),
        root_rot=engine.root_rot(),
        root_lin_vel=engine.root_lin_vel(),
        root_ang_vel=engine.root_ang_vel(),
        joint_rot=character.dof_to_joint_rot(engine.dof_pos()),
        dof_vel=engine.dof_vel(),
        body_pos=engine.body_pos()[:, body_ids],
    )


def motion_disc_frames(
    motion_lib: MotionLib,
    character: KinematicCharacter,
    motion_ids: torch.Tensor,
    times: torch.Tensor,
    num_steps: int,
    dt: float,
    body_ids: torch.Tensor,
) -> DiscFrames:
    """Windows of clip frames ending at `times`, (N, num_steps, ...): the frames at t - k dt, k = num_steps-1 .. 0
    (before a clip's start, CLAMP clips hold the first frame and WRAP clips wrap back with their root offset).

    Joint rotations and body positions come from the blended DoF positions through the FK of `character` (the
    clips' character on the motion library's device), exactly
    what an engine reports after `set_state` with the same frame; velocities are the library's (finite
    differences of the clip), which an engine reports when they are passed to `set_state`."""
    n = motion_ids.shape[0]
    ids = motion_ids.unsqueeze(-1).expand(n, num_steps).reshape(-1)
    frame = motion_lib.calc_motion_frame(ids, window_times(times, num_steps, dt).reshape(-1), with_bodies=False)
    joint_rot = character.dof_to_joint_rot(frame.dof_pos)
    body_pos, _ = character.forward_kinematics(frame.root_pos, frame.root_rot, joint_rot)
    window = DiscFrames(
        root_pos=frame.root_pos,
        root_rot=frame.root_rot,
        root_lin_vel=frame.root_lin_vel,
        root_ang_vel=frame.root_ang_vel,
        joint_rot=joint_rot,
        dof_vel=frame.dof_vel,
        body_pos=body_pos[:, body_ids],
    )
    return DiscFrames(*(x.reshape(n, num_steps, *x.shape[1:]) for x in window))


class DiscHistory:
    """The last `num_steps` frames of every env, oldest first, in preallocated (N, num_steps, ...) tensors.

    `push` and `fill_where` update the tensors in place and never wait for the device, so they can be captured in
    a CUDA graph (`Engine.graphed`); `frames` are the tensors themselves (read them, do not keep them)."""

    def __init__(self, frame: DiscFrames, num_steps: int):
        """frame: a (N, ...) frame giving the shapes; every slot starts as a copy of it."""
        if num_steps < 1:
            raise ValueError(f"num_disc_obs_steps must be >= 1, got {num_steps}")
        self.num_steps = num_steps
        self.frames = DiscFrames(
            *(x.unsqueeze(1).repeat(1, num_steps, *([1] * (x.dim() - 1))).contiguous() for x in frame)
        )

    def push(self, frame: DiscFrames) -> None:
        """Drop the oldest frame of every env and append `frame` (N, ...) as the newest."""
        for buf, new in zip(self.frames, frame, strict=True):
            if self.num_steps > 1:
                buf[:, :-1] = buf[:, 1:].clone()
            buf[:, -1] = new

    def fill_where(self, mask: torch.Tensor, window: DiscFrames) -> None:
        """Replace the whole history of the envs where the (N,) bool `mask` is set by `window` (N, num_steps, ...)."""
        for buf, new in zip(self.frames, window, strict=True):
            keep = mask.view(-1, *([1] * (buf.dim() - 1)))
            buf.copy_(torch.where(keep, new, buf))
