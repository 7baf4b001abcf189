"""What the MuJoCo-based backends share: validated run keys, the character model, and the state getters."""
from __future__ import annotations

import abc
import functools
from collections.abc import Callable, Mapping

import torch

from mimickit.anim.rotations import quat_from_wxyz, quat_normalize, quat_rotate, quat_rotate_inverse, quat_to_wxyz
from mimickit.sim import physics_params
from mimickit.sim.character import Character, build_character, resolve_asset_path
from mimickit.sim.engine import CharState, ControlMode, Engine, PhysicsParams
from mimickit.sim.mujoco_log import route_mujoco_warnings


def compute_body_lin_vel(cvel: torch.Tensor, body_pos: torch.Tensor, root_com: torch.Tensor) -> torch.Tensor:
    """World-frame linear velocity of body-frame origins from MuJoCo's `cvel`.

    `cvel` is (angular, linear) velocity, world-oriented, about the subtree centre of mass of the body's root
    (`subtree_com[body_rootid]`); shifting the reference point to the body origin adds omega x r.
    """
    return cvel[..., 3:6] + torch.cross(cvel[..., 0:3], body_pos - root_com, dim=-1)


def compute_root_ang_vel_world(root_rot: torch.Tensor, local_ang_vel: torch.Tensor) -> torch.Tensor:
    """MuJoCo's free joint stores angular velocity in the root's local frame; rotate it to the world frame."""
    return quat_rotate(root_rot, local_ang_vel)


class CharacterEngine(Engine):
    """Builds `self.character` (the MuJoCo model of one world) and the name/timing fields of the contract, and
    reads the state getters off MuJoCo's data fields (`_field`), each converted once per step or reset."""

    def __init__(
        self,
        mjcf: str,
        num_envs: int,
        device: str,
        sim_freq: int,
        control_freq: int,
        control_mode: str,
        self_collision: bool,
        passive_damping_frac: float,
        pd_gains: Mapping[str, Mapping] | None,
    ) -> None:
        if num_envs <= 0:
            raise ValueError(f"num_envs must be positive, got {num_envs}")
        if control_freq <= 0 or sim_freq % control_freq != 0:
            raise ValueError(f"control_freq ({control_freq}) must be positive and divide sim_freq ({sim_freq})")
        route_mujoco_warnings()
        self.num_envs = num_envs
        self.device = torch.device(device)
        self.control_mode = ControlMode(control_mode)
        self._sim_freq = sim_freq
        self._control_freq = control_freq
        self.mjcf = str(resolve_asset_path(mjcf))
        # what `build_character` is given, kept for a backend that rebuilds the model with sensors
        self._character_settings = dict(sim_freq=sim_freq, control_mode=self.control_mode,
                                         self_collision=self_collision, passive_damping_frac=passive_damping_frac,
                                         pd_gains=pd_gains)
        self.character: Character = build_character(self.mjcf, **self._character_settings)
        self.mj_model = self.character.model
        self.dof_names = list(self.character.dof_names)
        self.body_names = list(self.character.body_names)
        self._body_root_ids = torch.as_tensor(self.character.model.body_rootid[1:], device=self.device)
        self._cache: dict[str, torch.Tensor] = {}

    @abc.abstractmethod
    def _field(self, name: str) -> torch.Tensor:
        """(num_envs, ...) float32 copy on `device` of an MjData field (qpos, qvel, xpos, xquat, cvel, subtree_com,
        cfrc_ext), taken once per step or reset through `_cached`."""

    def _cached(self, name: str, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        """`compute()` once until the state changes (backends clear `_cache` after each step and reset)."""
        value = self._cache.get(name)
        if value is None:
            value = self._cache[name] = compute()
        return value

    def _state_rows(
        self, n: int, dtype: torch.dtype, device: torch.device | str, state: CharState
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`set_state`'s state of n envs, checked, as (n, nq) qpos and (n, nv) qvel rows of `dtype` on `device` in
        MuJoCo's conventions (wxyz, root angular velocity in the root frame)."""
        if not isinstance(state, CharState):
            raise TypeError(f"state: expected a CharState (e.g. MotionFrame.char_state()), got {type(state).__name__}")
        widths = (3, 4, 3, 3, self.num_dofs, self.num_dofs)
        for name, value, width in zip(CharState._fields, state, widths, strict=True):
            self._check_env_tensor(name, value, n, width)
        ready = lambda x: x.detach().to(device, dtype)  # noqa: E731
        rot = quat_normalize(ready(state.root_rot))
        qpos = torch.cat([ready(state.root_pos), quat_to_wxyz(rot), ready(state.dof_pos)], dim=-1)
        root_ang_vel_local = quat_rotate_inverse(rot, ready(state.root_ang_vel))
        qvel = torch.cat([ready(state.root_lin_vel), root_ang_vel_local, ready(state.dof_vel)], dim=-1)
        return qpos, qvel

    # ---- state getters: each MuJoCo array is converted once per step/set_state, on first use ----
    def root_pos(self) -> torch.Tensor:
        return self._field("qpos")[:, 0:3]

    def root_rot(self) -> torch.Tensor:
        return self._cached("root_rot", lambda: quat_from_wxyz(self._field("qpos")[:, 3:7]))

    def root_lin_vel(self) -> torch.Tensor:
        return self._field("qvel")[:, 0:3]

    def root_ang_vel(self) -> torch.Tensor:
        return self._cached(
            "root_ang_vel", lambda: compute_root_ang_vel_world(self.root_rot(), self._field("qvel")[:, 3:6])
        )

    def dof_pos(self) -> torch.Tensor:
        return self._field("qpos")[:, 7:]

    def dof_vel(self) -> torch.Tensor:
        return self._field("qvel")[:, 6:]

    def body_pos(self) -> torch.Tensor:
        return self._field("xpos")[:, 1:]

    def body_rot(self) -> torch.Tensor:
        return self._cached("body_rot", lambda: quat_from_wxyz(self._field("xquat")[:, 1:]))

    def body_lin_vel(self) -> torch.Tensor:
        def compute() -> torch.Tensor:
            root_com = self._field("subtree_com")[:, self._body_root_ids]
            return compute_body_lin_vel(self._field("cvel")[:, 1:], self.body_pos(), root_com)

        return self._cached("body_lin_vel", compute)

    def body_ang_vel(self) -> torch.Tensor:
        return self._field("cvel")[:, 1:, 0:3]

    def contact_forces(self) -> torch.Tensor:
        """Force part of `cfrc_ext`, computed in the last physics substep (1 / sim_freq before the state)."""
        return self._field("cfrc_ext")[:, 1:, 3:6]

    # ---- per-world physical parameters: what both backends compute alike (see mimickit.sim.physics_params) ----
    @property
    def _model_device(self) -> torch.device:
        """Where the simulation's model arrays live."""
        return self.device

    @functools.cached_property
    def _model_layout(self) -> physics_params.ModelLayout:
        return physics_params.ModelLayout.of(self.mj_model, self.dof_names, self.character.actuator_dof_ids,
                                             self._model_device)

    def _physics_fields(self, params: PhysicsParams) -> list[str]:
        """The model fields `params` sets (checked against this character)."""
        physics_params.check_params(params, self.num_envs, self.num_bodies, self.num_dofs, self.control_mode)
        return physics_params.fields_of(params, self.control_mode)

    @functools.cached_property
    def _nominal_model_fields(self) -> dict[str, torch.Tensor]:
        """The character file's values of every field `PhysicsParams` may set, float64 beside the model's arrays."""
        names = sorted({f for fields in physics_params.FIELDS.values() for f in fields} | {"actuator_ctrlrange"})
        return physics_params.nominal_fields(self.mj_model, names, self._model_device)

    def _new_model_fields(self, params: PhysicsParams, current: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Float64 values of the fields in `current` (rows of worlds, beside the model's arrays) under `params` (the
        same rows)."""
        return physics_params.compute_model_fields(current, self._nominal_model_fields, params, self._model_layout)
