"""The MuJoCo model fields that `PhysicsParams` sets per world, computed the same way for both backends.

Each backend keeps these fields per world (the CPU engine through `mujoco.batch.Batch.expand`, the GPU engine
through MuJoCo Warp's batched model arrays) and writes the values `compute_model_fields` returns into the rows of
the worlds being changed. Values are computed in float64 from the compiled model's own arrays, so a scale of 1 or
an offset of 0 gives back the nominal value bit for bit (also after the GPU's float32 cast).

What each parameter writes (model indices: body 0 is the world, so character body i is model body i + 1):
- friction_scale: `geom_friction[:, 0]` (sliding) of every geom, the floor included: a contact takes the larger
  friction of its two geoms, so scaling only the floor's would change nothing while the feet's is higher.
- mass_scale: `body_mass` and `body_inertia` (a uniformly denser or lighter body), and `body_subtreemass`.
- com_offset: `body_ipos`, the centre of mass in the body frame.
- kp_scale: the position servos' `actuator_gainprm[:, 0]` (kp) and `actuator_biasprm[:, 1]` (-kp).
- kd_scale: the servos' `actuator_biasprm[:, 2]` (-kv) and the passive part of kd, `dof_damping`.
- torque_limit_scale: the joints' `jnt_actfrcrange` (the clamp of each joint's actuator torque); in control mode
  "torque" also the motors' `actuator_ctrlrange` (the torques they accept).
"""
from __future__ import annotations

import dataclasses

import mujoco
import numpy as np
import torch

from mimickit.sim.engine import ControlMode, PhysicsParams

FIELDS = {
    "friction_scale": ("geom_friction",),
    "mass_scale": ("body_mass", "body_inertia", "body_subtreemass"),
    "com_offset": ("body_ipos",),
    "kp_scale": ("actuator_gainprm", "actuator_biasprm"),
    "kd_scale": ("actuator_biasprm", "dof_damping"),
    "torque_limit_scale": ("jnt_actfrcrange",),
}
# parameters whose change alters constants MuJoCo derives from the model (mj_setConst: subtree masses, the
# inverse inertias that scale constraint softness)
INERTIAL = ("mass_scale", "com_offset")


@dataclasses.dataclass(frozen=True)
class ModelLayout:
    """Where the character's DoFs and bodies sit in the model's arrays."""

    actuator_dofs: torch.Tensor  # (nu,) the DoF (character order) each actuator drives
    dof_addresses: torch.Tensor  # (num_dofs,) each DoF's index in dof_* arrays
    dof_joints: torch.Tensor  # (num_dofs,) each DoF's joint id
    body_parents: tuple[int, ...]  # (nbody,) model body tree, world included

    @classmethod
    def of(cls, model: mujoco.MjModel, dof_names: list[str], actuator_dofs: np.ndarray,
           device: torch.device) -> ModelLayout:
        joints = np.array([model.joint(name).id for name in dof_names])
        as_tensor = lambda x: torch.as_tensor(np.asarray(x, dtype=np.int64), device=device)  # noqa: E731
        return cls(as_tensor(actuator_dofs), as_tensor(model.jnt_dofadr[joints]), as_tensor(joints),
                   tuple(int(p) for p in model.body_parentid))


def fields_of(params: PhysicsParams, control_mode: ControlMode) -> list[str]:
    """The model fields a call with `params` writes, in a fixed order."""
    names = [field for key, fields in FIELDS.items() if getattr(params, key) is not None for field in fields]
    if params.torque_limit_scale is not None and control_mode == ControlMode.TORQUE:
        names.append("actuator_ctrlrange")
    return list(dict.fromkeys(names))


def check_params(params: PhysicsParams, num_envs: int, num_bodies: int, num_dofs: int,
                 control_mode: ControlMode) -> None:
    shapes = {"friction_scale": (num_envs,), "mass_scale": (num_envs, num_bodies),
              "com_offset": (num_envs, num_bodies, 3), "kp_scale": (num_envs, num_dofs),
              "kd_scale": (num_envs, num_dofs), "torque_limit_scale": (num_envs, num_dofs)}
    for name, shape in shapes.items():
        value = getattr(params, name)
        if value is not None and tuple(value.shape) != shape:
            raise ValueError(f"PhysicsParams.{name}: expected shape {shape}, got {tuple(value.shape)}")
    if control_mode != ControlMode.POS and (params.kp_scale is not None or params.kd_scale is not None):
        raise ValueError(f"kp_scale and kd_scale scale PD servos: control_mode is {control_mode.value!r}, not 'pos'")


def nominal_fields(model: mujoco.MjModel, names: list[str], device: torch.device) -> dict[str, torch.Tensor]:
    """The compiled model's values of `names`, float64 on `device`."""
    return {name: torch.as_tensor(np.array(getattr(model, name), dtype=np.float64), device=device) for name in names}


def compute_subtree_mass(body_mass: torch.Tensor, body_parents: tuple[int, ...]) -> torch.Tensor:
    """(N, nbody) mass of each body's subtree, summed leaves first as mj_setConst does (the same rounding)."""
    subtree = body_mass.clone()
    for body in range(len(body_parents) - 1, 0, -1):
        subtree[:, body_parents[body]] += subtree[:, body]
    return subtree


def compute_model_fields(
    current: dict[str, torch.Tensor], nominal: dict[str, torch.Tensor], params: PhysicsParams, layout: ModelLayout
) -> dict[str, torch.Tensor]:
    """New (N, ...) values of the fields `params` sets: `current` (each world's values now, any dtype) with the
    parts the given parameters set replaced by `nominal` (float64, the model's) scaled or offset; float64."""
    new = {name: current[name].to(torch.float64, copy=True) for name in current}
    p = {k: (None if v is None else v.to(torch.float64)) for k, v in params._asdict().items()}
    if p["friction_scale"] is not None:
        new["geom_friction"][..., 0] = nominal["geom_friction"][:, 0] * p["friction_scale"][:, None]
    if p["mass_scale"] is not None:
        scale = torch.cat([torch.ones_like(p["mass_scale"][:, :1]), p["mass_scale"]], dim=1)  # world body first
        new["body_mass"] = nominal["body_mass"] * scale
        new["body_inertia"] = nominal["body_inertia"] * scale[..., None]
        new["body_subtreemass"] = compute_subtree_mass(new["body_mass"], layout.body_parents)
    if p["com_offset"] is not None:
        new["body_ipos"][:, 1:] = nominal["body_ipos"][1:] + p["com_offset"]
    if p["kp_scale"] is not None:
        scale = p["kp_scale"][:, layout.actuator_dofs]
        new["actuator_gainprm"][..., 0] = nominal["actuator_gainprm"][:, 0] * scale
        new["actuator_biasprm"][..., 1] = nominal["actuator_biasprm"][:, 1] * scale
    if p["kd_scale"] is not None:
        new["actuator_biasprm"][..., 2] = nominal["actuator_biasprm"][:, 2] * p["kd_scale"][:, layout.actuator_dofs]
        new["dof_damping"][:, layout.dof_addresses] = nominal["dof_damping"][layout.dof_addresses] * p["kd_scale"]
    if p["torque_limit_scale"] is not None:
        scale = p["torque_limit_scale"]
        new["jnt_actfrcrange"][:, layout.dof_joints] = nominal["jnt_actfrcrange"][layout.dof_joints] * scale[..., None]
        if "actuator_ctrlrange" in new:
            new["actuator_ctrlrange"] = nominal["actuator_ctrlrange"] * scale[:, layout.actuator_dofs, None]
    return new
