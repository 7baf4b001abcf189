"""The engine contract: one character, batched over `num_envs` separate worlds, torch tensors in and out.

Every backend (CPU MuJoCo, MuJoCo Warp) implements this class; envs cannot tell which one they drive.

Conventions (the whole project):
- world frame is Z up; lengths in metres, angles in radians;
- quaternions are (x, y, z, w) (see `mimickit.anim.rotations`); backends convert MuJoCo's (w, x, y, z) here;
- root and body velocities are in the **world** frame (linear velocity of the body origin, angular velocity);
- DoFs are the character's hinge joints in MJCF depth-first order (the free root joint is not a DoF);
- bodies are the character's bodies in MJCF order, the root first (the MuJoCo world body is excluded);
- every getter returns a `(num_envs, ...)` float32 tensor on `device`; treat it as read-only.
"""
from __future__ import annotations

import abc
import enum
from collections.abc import Callable
from typing import Any, NamedTuple

import torch


def check_env_ids(env_ids: torch.Tensor, num_envs: int, device: torch.device | str) -> torch.Tensor:
    """`env_ids` as a 1-D long tensor on `device`, or a clear error (the range check reads back from a GPU)."""
    env_ids = torch.as_tensor(env_ids)
    if env_ids.dim() != 1 or env_ids.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"env_ids: expected a 1-D integer tensor, got {env_ids.dtype} of shape {tuple(env_ids.shape)}")
    ids = env_ids.to(device, torch.long)
    if ids.numel() and bool(((ids < 0) | (ids >= num_envs)).any()):
        raise ValueError(f"env_ids must lie in [0, {num_envs}), got {ids.min().item()}..{ids.max().item()}")
    return ids


class CharState(NamedTuple):
    """The state `Engine.set_state` writes, for a batch of characters: velocities in the world frame, quaternions
    xyzw. A reference frame gives one with `MotionFrame.char_state()`, whose first six fields these are."""

    root_pos: torch.Tensor  # (N, 3)
    root_rot: torch.Tensor  # (N, 4)
    root_lin_vel: torch.Tensor  # (N, 3)
    root_ang_vel: torch.Tensor  # (N, 3)
    dof_pos: torch.Tensor  # (N, num_dofs)
    dof_vel: torch.Tensor  # (N, num_dofs)

    @classmethod
    def at_rest(cls, root_pos: torch.Tensor, root_rot: torch.Tensor, dof_pos: torch.Tensor) -> CharState:
        """A pose with every velocity zero."""
        zero = torch.zeros_like(root_pos)
        return cls(root_pos, root_rot, zero, zero, dof_pos, torch.zeros_like(dof_pos))

    def rows(self, index: torch.Tensor) -> CharState:
        """The state of the envs `index` selects (ids or a bool mask) of every field."""
        return CharState(*(x[index] for x in self))


class PhysicsParams(NamedTuple):
    """Physical parameters of each world relative to the character file's, for `Engine.set_physics_where`
    (domain randomisation). A field left None keeps the world's current values of what it sets."""

    friction_scale: torch.Tensor | None = None  # (N,) x every geom's sliding friction (floor and bodies)
    mass_scale: torch.Tensor | None = None  # (N, num_bodies) x each body's mass and rotational inertia
    com_offset: torch.Tensor | None = None  # (N, num_bodies, 3) m added to each body's centre of mass (body frame)
    kp_scale: torch.Tensor | None = None  # (N, num_dofs) x each DoF's PD stiffness (control mode "pos")
    kd_scale: torch.Tensor | None = None  # (N, num_dofs) x each DoF's PD damping, servo and passive parts ("pos")
    torque_limit_scale: torch.Tensor | None = None  # (N, num_dofs) x each DoF's torque limit (motor strength)


class ControlMode(str, enum.Enum):
    """How `set_actions` is interpreted."""

    POS = "pos"  # PD targets in joint space (gains from the character file), integrated implicitly
    TORQUE = "torque"  # joint torques, clamped to the torque limits
    NONE = "none"  # no actuation (kinematic playback or passive ragdoll)


class Engine(abc.ABC):
    num_envs: int
    device: torch.device
    control_mode: ControlMode
    body_names: list[str]
    dof_names: list[str]
    mjcf: str  # resolved path of the character file the engine simulates

    # ---- timing (backends set _sim_freq and _control_freq) ----
    _sim_freq: int
    _control_freq: int

    @property
    def sim_dt(self) -> float:
        """Physics timestep (1 / sim_freq)."""
        return 1.0 / self._sim_freq

    @property
    def control_dt(self) -> float:
        """Time advanced by one `step()` (1 / control_freq)."""
        return 1.0 / self._control_freq

    @property
    def substeps(self) -> int:
        return round(self.control_dt / self.sim_dt)

    @property
    def num_dofs(self) -> int:
        return len(self.dof_names)

    @property
    def num_bodies(self) -> int:
        return len(self.body_names)

    # ---- names and limits ----
    def body_id(self, name: str) -> int:
        if name not in self.body_names:
            raise KeyError(f"unknown body {name!r}; the character has bodies {self.body_names}")
        return self.body_names.index(name)

    def body_ids(self, names: list[str]) -> list[int]:
        return [self.body_id(n) for n in names]

    def dof_id(self, name: str) -> int:
        if name not in self.dof_names:
            raise KeyError(f"unknown dof {name!r}; the character has dofs {self.dof_names}")
        return self.dof_names.index(name)

    # ---- limits (backends set _dof_limits and _torque_limits, on `device`) ----
    _dof_limits: tuple[torch.Tensor, torch.Tensor]
    _torque_limits: torch.Tensor

    @property
    def dof_limits(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(low, high), each (num_dofs,)."""
        return self._dof_limits

    @property
    def torque_limits(self) -> torch.Tensor:
        """(num_dofs,) maximum absolute joint torque."""
        return self._torque_limits

    # ---- state ----
    @abc.abstractmethod
    def root_pos(self) -> torch.Tensor:
        """(N, 3)"""

    @abc.abstractmethod
    def root_rot(self) -> torch.Tensor:
        """(N, 4) xyzw"""

    @abc.abstractmethod
    def root_lin_vel(self) -> torch.Tensor:
        """(N, 3) world frame"""

    @abc.abstractmethod
    def root_ang_vel(self) -> torch.Tensor:
        """(N, 3) world frame"""

    @abc.abstractmethod
    def dof_pos(self) -> torch.Tensor:
        """(N, num_dofs)"""

    @abc.abstractmethod
    def dof_vel(self) -> torch.Tensor:
        """(N, num_dofs)"""

    @abc.abstractmethod
    def body_pos(self) -> torch.Tensor:
        """(N, num_bodies, 3) world positions of the body frames"""

    @abc.abstractmethod
    def body_rot(self) -> torch.Tensor:
        """(N, num_bodies, 4) xyzw"""

    @abc.abstractmethod
    def body_lin_vel(self) -> torch.Tensor:
        """(N, num_bodies, 3) world-frame linear velocity of the body frame origins"""

    @abc.abstractmethod
    def body_ang_vel(self) -> torch.Tensor:
        """(N, num_bodies, 3) world frame"""

    @abc.abstractmethod
    def contact_forces(self) -> torch.Tensor:
        """(N, num_bodies, 3) world-frame net external contact force on each body (ground and self contacts)."""

    def enable_floor_contact_forces(self) -> None:
        """Make `floor_contact_forces` available. A backend may have to change its model for it (the CPU engine adds
        sensors), so call it before the first step and before `set_physics_where`; until it is called, nothing
        is computed for it. Calling it again does nothing."""
        raise NotImplementedError(f"{type(self).__name__} has no floor contact forces")

    def floor_contact_forces(self) -> torch.Tensor:
        """(N, num_bodies, 3) world-frame net force on each body from its contacts with the floor only (self contacts
        excluded), from the last physics substep like `contact_forces`; needs `enable_floor_contact_forces`."""
        raise NotImplementedError(f"{type(self).__name__} has no floor contact forces")

    # ---- writes ----
    @abc.abstractmethod
    def set_state(self, env_ids: torch.Tensor, state: CharState) -> None:
        """Teleport the listed envs to `state` ((len(env_ids), ...) tensors) and recompute derived quantities."""

    def set_state_where(self, mask: torch.Tensor, state: CharState) -> None:
        """`set_state` for the envs where the (num_envs,) bool `mask` is true, from a (num_envs, ...) `state` whose
        other rows are ignored. Unlike a list of ids, a mask has a fixed size, so a GPU backend can do this without
        waiting for the device (and inside a CUDA graph, see `graphed`)."""
        ids = self._check_mask(mask).nonzero().flatten()
        self.set_state(ids, state.rows(ids))

    def set_physics_where(self, mask: torch.Tensor, params: PhysicsParams) -> None:
        """Give the worlds where the (num_envs,) bool `mask` is true the physical parameters `params` ((num_envs, ...)
        tensors whose other rows are ignored), each relative to the character file's values; they hold until the
        next call that sets them. Fixed shapes, no waiting for the device (a GPU backend may run it in a CUDA graph).
        The first call that sets a field makes it per world, which a GPU backend must do before capturing graphs:
        make it before the first step (`mimickit.envs.randomization.DomainRandomizer` does at construction)."""
        raise NotImplementedError(f"{type(self).__name__} has no per-world physical parameters")

    @abc.abstractmethod
    def set_actions(self, actions: torch.Tensor) -> None:
        """(N, num_dofs) PD targets (pos mode) or torques (torque mode), held for the next `step()`."""

    @abc.abstractmethod
    def step(self) -> None:
        """Advance every env by `control_dt` (`substeps` physics steps)."""

    @abc.abstractmethod
    def pop_unstable_mask(self) -> torch.Tensor:
        """(num_envs,) bool: the envs whose simulation diverged (NaN/exploding) since the last call.

        The engine has already reset them to a finite default state; the env must re-initialise them.
        The running total is `num_unstable_resets`.
        """

    def graphed(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """`function` (env work that calls this engine: actions, step, resets, getters), or a faster equivalent.

        A GPU backend may capture it in one CUDA graph and replay that: it must then take and return tensors of fixed
        shapes, keep state across calls only in tensors it updates in place, and never wait for the device. Outputs
        of a replay are overwritten by the next call. This backend runs `function` as it is.
        """
        return function

    num_unstable_resets: int = 0

    # ---- helpers shared by backends ----
    def _check_env_tensor(self, name: str, value: torch.Tensor, n: int, *trailing: int) -> torch.Tensor:
        expected = (n, *trailing)
        if tuple(value.shape) != expected:
            raise ValueError(f"{name}: expected shape {expected}, got {tuple(value.shape)}")
        return value

    def _check_mask(self, mask: torch.Tensor) -> torch.Tensor:
        if mask.dtype != torch.bool or tuple(mask.shape) != (self.num_envs,):
            shape = tuple(mask.shape)
            raise ValueError(f"mask: expected a ({self.num_envs},) bool tensor, got {mask.dtype} of shape {shape}")
        return mask.to(self.device)
