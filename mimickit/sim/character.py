"""Turn a character MJCF into a simulation-ready `mujoco.MjModel` plus the per-DoF facts an engine needs.

Backend-neutral: the CPU engine (`mujoco.batch.Batch`) and the GPU engine (MuJoCo Warp) both start from
`build_character`. The character file follows the Isaac Gym convention of MimicKit's humanoid: a free root joint,
hinge DoFs whose `stiffness`/`damping` are the PD gains kp/kd (not passive springs), and torque limits in the joint
`actuatorfrcrange` or in the motors' gear x ctrlrange. A robot whose file has plain motors (the Unitree G1) takes
its gains, torque limits and armature from a per-joint-group table instead (`pd_gains`, from the robot's YAML).
See `/work/shared/notes/physics.md` for why the model is
built the way it is (position actuators, implicitfast, part of kd as passive damping, condim-3 floor, a sensor so
that `cfrc_ext` is computed).
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path

import mujoco
import numpy as np

from mimickit.sim.engine import ControlMode
from mimickit.utils.paths import resolve_path

FLOOR_GEOM = "floor"
CONTACT_SENSOR_SITE = "mimickit_cfrc_site"
FLOOR_SENSOR_PREFIX = "mimickit_floor_"  # + body name: that body's net contact force with the floor
# Keeps the character's lowest point this far above the floor in the default (T-pose) state.
DEFAULT_CLEARANCE = 0.01
# Keys of one `pd_gains` group (mimickit.config.JointGroupConfig).
JOINT_GROUP_KEYS = ("joints", "kp", "kd", "torque_limit", "armature")


@dataclasses.dataclass(frozen=True)
class Character:
    """A compiled simulation model and what the engine reads from it. Arrays are per DoF unless noted."""

    model: mujoco.MjModel
    spec: mujoco.MjSpec  # the edited spec `model` was compiled from (e.g. to attach copies or add scenery)
    control_mode: ControlMode
    dof_names: list[str]  # hinge joints in MJCF depth-first order
    body_names: list[str]  # MJCF order, root first, world excluded
    kp: np.ndarray
    kd: np.ndarray
    dof_low: np.ndarray
    dof_high: np.ndarray
    torque_limit: np.ndarray
    actuator_dof_ids: np.ndarray  # (nu,) actuator i drives DoF actuator_dof_ids[i]; empty in mode "none"
    default_qpos: np.ndarray  # (nq,) T-pose standing just above the floor

    @property
    def num_dofs(self) -> int:
        return len(self.dof_names)


def resolve_asset_path(path: str | Path) -> Path:
    return resolve_path(path, "character file")


def load_spec(mjcf: str | Path) -> mujoco.MjSpec:
    """Parse an MJCF into an editable spec, with errors that name the file."""
    path = resolve_asset_path(mjcf)
    try:
        return mujoco.MjSpec.from_file(str(path))
    except ValueError as err:
        raise ValueError(f"cannot parse character file {path}: {err}") from err


def build_character(
    mjcf: str | Path,
    sim_freq: int = 120,
    control_mode: ControlMode | str = ControlMode.POS,
    self_collision: bool = True,
    passive_damping_frac: float = 0.5,
    pd_gains: Mapping[str, Mapping] | None = None,
    floor_contact_sensors: bool = False,
) -> Character:
    """Load a character MJCF and build its simulation model.

    Modes: "pos" turns each actuator into a position servo with the file's kp and (1 - passive_damping_frac) * kd,
    the rest of kd becoming passive joint damping; "torque" makes motors whose controls are clamped at the torque
    limits; "none" removes the actuators. Springs are always zeroed.

    Why passive damping: a servo clamped at its torque limit loses its implicit damping (MuJoCo >= 4.0), so its
    kd acts explicitly, and on light limbs (kd * dt / inertia > 2) it locks into a +-limit chatter that never
    reaches the target. Passive damping stays implicit. Measured at 120 Hz, targets in free fall: with 0.1 of kd,
    95 % of characters had a joint stuck > 0.05 rad off after 0.8 s (also at 240/480 Hz); with 0.4-0.5, none.
    The price: passive damping is not clamped by the torque limit.

    pd_gains: `{group: {joints: [regex, ...], kp, kd, torque_limit, armature}}` with every DoF in exactly one group
    (names matched in full): these replace the file's stiffness/damping as kp/kd, its torque limits, and set the
    joints' armature. The file's actuators (motors, say) are converted as above either way. None: the file's.

    floor_contact_sensors: add one contact sensor per body giving its net contact force with the floor
    (`floor_sensor_columns`); sensors never change the physics, but MuJoCo evaluates them at every substep.
    """
    control_mode = ControlMode(control_mode)
    if sim_freq <= 0:
        raise ValueError(f"sim_freq must be positive, got {sim_freq}")
    if not 0.0 <= passive_damping_frac <= 1.0:
        raise ValueError(f"passive_damping_frac must be in [0, 1], got {passive_damping_frac}")

    spec = load_spec(mjcf)
    source = _compile(spec, mjcf)
    dof_joint_ids = _check_topology(source, mjcf)
    dof_names = [source.joint(j).name for j in dof_joint_ids]
    dof_adr = source.jnt_dofadr[dof_joint_ids]
    kp = source.jnt_stiffness[dof_joint_ids].copy()
    kd = source.dof_damping[dof_adr].copy()
    limited = source.jnt_limited[dof_joint_ids].astype(bool)
    dof_low = np.where(limited, source.jnt_range[dof_joint_ids, 0], -np.inf)
    dof_high = np.where(limited, source.jnt_range[dof_joint_ids, 1], np.inf)
    torque_limit = _read_torque_limits(source, dof_joint_ids)
    if pd_gains is not None:
        kp, kd, torque_limit, armature = compute_group_gains(dof_names, pd_gains)
        for name, value in zip(dof_names, armature):
            spec.joint(name).armature = float(value)
    if control_mode == ControlMode.POS and np.any(kp <= 0):
        missing = [name for name, k in zip(dof_names, kp) if k <= 0]
        raise ValueError(f"{mjcf}: joints without a PD gain (kp <= 0): {missing}; the file's joint stiffness gives "
                         "none, so give them in the robot's pd_gains (conf/robot/*.yaml)")

    passive_damping = kd * passive_damping_frac if control_mode == ControlMode.POS else np.zeros_like(kd)
    _set_joint_passives(spec, dof_names, passive_damping)
    _ensure_one_actuator_per_dof(spec, dof_names)
    gains = {name: i for i, name in enumerate(dof_names)}
    for actuator in list(spec.actuators):
        i = gains[actuator.target]
        if control_mode == ControlMode.NONE:
            spec.delete(actuator)
        elif control_mode == ControlMode.POS:
            _make_position_servo(actuator, kp[i], (1.0 - passive_damping_frac) * kd[i], dof_low[i], dof_high[i])
        else:
            _make_torque_motor(actuator, torque_limit[i])
    _limit_joint_torques(spec, dof_names, torque_limit)

    _add_floor(spec)
    if not self_collision:
        _disable_self_collision(spec)
    _add_contact_force_sensor(spec, source.body(1).name)
    if floor_contact_sensors:
        _add_floor_contact_sensors(spec, [source.body(b).name for b in range(1, source.nbody)])
    spec.option.timestep = 1.0 / sim_freq
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST

    model = _compile(spec, mjcf)
    actuator_dof_ids = np.array([gains[model.joint(j).name] for j in model.actuator_trnid[:, 0]], dtype=np.int64)
    return Character(
        model=model,
        spec=spec,
        control_mode=control_mode,
        dof_names=dof_names,
        body_names=[model.body(b).name for b in range(1, model.nbody)],
        kp=kp,
        kd=kd,
        dof_low=dof_low,
        dof_high=dof_high,
        torque_limit=torque_limit,
        actuator_dof_ids=actuator_dof_ids,
        default_qpos=compute_default_qpos(model),
    )


def compute_group_gains(
    dof_names: list[str], pd_gains: Mapping[str, Mapping]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-DoF kp, kd, torque limit and armature from a `pd_gains` table whose groups cover every DoF once."""
    owner: dict[str, str] = {}
    overlaps: dict[str, list[str]] = {}
    for group, values in pd_gains.items():
        missing = [k for k in JOINT_GROUP_KEYS if values.get(k) is None]
        unknown = sorted(set(values) - set(JOINT_GROUP_KEYS))
        if missing or unknown:
            raise ValueError(f"pd_gains group {group!r}: missing {missing}, unknown {unknown}; a group has "
                             f"{list(JOINT_GROUP_KEYS)}")
        bad = [k for k in ("kp", "kd", "armature") if values[k] < 0] + ["torque_limit"] * (values["torque_limit"] <= 0)
        if bad:
            raise ValueError(f"pd_gains group {group!r}: {bad} must be positive (kp, kd, armature may be 0)")
        patterns = [re.compile(p) for p in values["joints"]]
        matched = [name for name in dof_names if any(p.fullmatch(name) for p in patterns)]
        if not matched:
            raise ValueError(f"pd_gains group {group!r}: {list(values['joints'])} match no joint of {dof_names}")
        for name in matched:
            if name in owner:
                overlaps.setdefault(name, [owner[name]]).append(group)
            owner.setdefault(name, group)
    unmatched = [name for name in dof_names if name not in owner]
    if unmatched or overlaps:
        raise ValueError(f"pd_gains must put every joint in exactly one group; in none: {unmatched}; in several: "
                         f"{overlaps}")
    table = np.array([[float(pd_gains[owner[name]][k]) for k in ("kp", "kd", "torque_limit", "armature")]
                      for name in dof_names])
    return table[:, 0], table[:, 1], table[:, 2], table[:, 3]


def compute_default_qpos(model: mujoco.MjModel, clearance: float = DEFAULT_CLEARANCE) -> np.ndarray:
    """The model's reference pose (T-pose) with the root raised so the lowest geom is `clearance` above z = 0."""
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    body_geoms = model.geom_bodyid > 0
    rot_z = data.geom_xmat.reshape(-1, 3, 3)[:, 2, :]  # world z-row of each geom frame
    centre, half = model.geom_aabb[:, :3], model.geom_aabb[:, 3:]
    lowest = data.geom_xpos[:, 2] + np.sum(rot_z * centre, axis=1) - np.sum(np.abs(rot_z) * half, axis=1)
    qpos = model.qpos0.copy()
    qpos[2] += clearance - lowest[body_geoms].min()
    return qpos


def _compile(spec: mujoco.MjSpec, mjcf: str | Path) -> mujoco.MjModel:
    try:
        return spec.compile()
    except ValueError as err:
        raise ValueError(f"cannot compile character file {mjcf}: {err}") from err


def _check_topology(model: mujoco.MjModel, mjcf: str | Path) -> np.ndarray:
    """The character must have one free root joint on its first body and hinge joints elsewhere."""
    if model.njnt == 0 or model.jnt_type[0] != mujoco.mjtJoint.mjJNT_FREE or model.jnt_bodyid[0] != 1:
        raise ValueError(f"{mjcf}: the first body must carry a free root joint")
    others = model.jnt_type[1:]
    if np.any(others != mujoco.mjtJoint.mjJNT_HINGE):
        bad = [model.joint(j).name for j in range(1, model.njnt) if model.jnt_type[j] != mujoco.mjtJoint.mjJNT_HINGE]
        raise ValueError(f"{mjcf}: every joint but the root must be a hinge; not hinges: {bad}")
    return np.arange(1, model.njnt)


def _read_torque_limits(model: mujoco.MjModel, dof_joint_ids: np.ndarray) -> np.ndarray:
    """Joint actuatorfrcrange where given, else the joint's motor gear x |ctrlrange|, else unlimited."""
    limits = np.full(len(dof_joint_ids), np.inf)
    joint_to_dof = {int(j): i for i, j in enumerate(dof_joint_ids)}
    for a in range(model.nu):
        joint = int(model.actuator_trnid[a, 0])
        if model.actuator_trntype[a] == mujoco.mjtTrn.mjTRN_JOINT and model.actuator_ctrllimited[a]:
            limits[joint_to_dof[joint]] = abs(model.actuator_gear[a, 0]) * np.abs(model.actuator_ctrlrange[a]).max()
    frc_limited = model.jnt_actfrclimited[dof_joint_ids].astype(bool)
    frc_limit = np.abs(model.jnt_actfrcrange[dof_joint_ids]).max(axis=1)
    return np.where(frc_limited, frc_limit, limits)


def _set_joint_passives(spec: mujoco.MjSpec, dof_names: list[str], damping: np.ndarray) -> None:
    for name, value in zip(dof_names, damping):
        joint = spec.joint(name)
        joint.stiffness = [0.0, 0.0, 0.0]
        joint.damping = [float(value), 0.0, 0.0]


def _ensure_one_actuator_per_dof(spec: mujoco.MjSpec, dof_names: list[str]) -> None:
    """Every DoF gets exactly one joint actuator; DoFs the file leaves unactuated get one appended."""
    targets = []
    for actuator in spec.actuators:
        if actuator.trntype != mujoco.mjtTrn.mjTRN_JOINT or actuator.target not in dof_names:
            raise ValueError(f"actuator {actuator.name!r} must drive one hinge DoF, it targets {actuator.target!r}")
        targets.append(actuator.target)
    duplicates = sorted({t for t in targets if targets.count(t) > 1})
    if duplicates:
        raise ValueError(f"DoFs driven by more than one actuator: {duplicates}")
    for name in dof_names:
        if name not in targets:
            spec.add_actuator(name=name, target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)


def _make_position_servo(actuator, kp: float, kv: float, low: float, high: float) -> None:
    actuator.set_to_position(kp=float(kp), kv=float(kv))
    actuator.gear = [1.0, 0, 0, 0, 0, 0]
    actuator.forcelimited = mujoco.mjtLimited.mjLIMITED_FALSE
    if np.isfinite(low) and np.isfinite(high):
        actuator.ctrlrange = [float(low), float(high)]
        actuator.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
    else:
        actuator.ctrllimited = mujoco.mjtLimited.mjLIMITED_FALSE


def _make_torque_motor(actuator, limit: float) -> None:
    actuator.set_to_motor()
    actuator.gear = [1.0, 0, 0, 0, 0, 0]
    actuator.forcelimited = mujoco.mjtLimited.mjLIMITED_FALSE
    if np.isfinite(limit):
        actuator.ctrlrange = [-float(limit), float(limit)]
        actuator.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
    else:
        actuator.ctrllimited = mujoco.mjtLimited.mjLIMITED_FALSE


def _limit_joint_torques(spec: mujoco.MjSpec, dof_names: list[str], torque_limit: np.ndarray) -> None:
    """Clamp the total actuator torque at each joint (a position servo's force is otherwise unbounded)."""
    for name, limit in zip(dof_names, torque_limit):
        if np.isfinite(limit):
            joint = spec.joint(name)
            joint.actfrcrange = [-float(limit), float(limit)]
            joint.actfrclimited = mujoco.mjtLimited.mjLIMITED_TRUE


def _add_floor(spec: mujoco.MjSpec) -> None:
    """An infinite plane; condim 3 gives it friction, which wins over the body geoms' condim 1."""
    spec.worldbody.add_geom(name=FLOOR_GEOM, type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 1], condim=3)


def _disable_self_collision(spec: mujoco.MjSpec) -> None:
    """Body geoms collide with the floor (contype 1 meets its conaffinity 1) but not with each other; visual-only
    geoms (contype = conaffinity = 0, the G1's meshes) stay out of collisions."""
    for geom in spec.geoms:
        if geom.name != FLOOR_GEOM and (geom.contype or geom.conaffinity):
            geom.contype = 1
            geom.conaffinity = 0


def _add_contact_force_sensor(spec: mujoco.MjSpec, root_body: str) -> None:
    """An accelerometer makes MuJoCo run mj_rnePostConstraint, which fills `cfrc_ext` (else it reads zeros)."""
    spec.body(root_body).add_site(name=CONTACT_SENSOR_SITE)
    spec.add_sensor(
        type=mujoco.mjtSensor.mjSENS_ACCELEROMETER, objtype=mujoco.mjtObj.mjOBJ_SITE, objname=CONTACT_SENSOR_SITE
    )


def _add_floor_contact_sensors(spec: mujoco.MjSpec, body_names: list[str]) -> None:
    """Per body, a contact sensor of its geoms' contacts with the floor: the net force, world frame (3 values)."""
    force = 1 << int(mujoco.mjtConDataField.mjCONDATA_FORCE)
    netforce = 3  # reduce: the net force of all matching contacts
    for name in body_names:
        spec.add_sensor(
            name=FLOOR_SENSOR_PREFIX + name, type=mujoco.mjtSensor.mjSENS_CONTACT, objtype=mujoco.mjtObj.mjOBJ_BODY,
            objname=name, reftype=mujoco.mjtObj.mjOBJ_GEOM, refname=FLOOR_GEOM, intprm=[force, netforce, 1],
        )


def floor_sensor_columns(model: mujoco.MjModel, body_names: list[str]) -> np.ndarray:
    """(num_bodies * 3,) columns of `sensordata` holding each body's floor contact sensor (`build_character`'s
    floor_contact_sensors). The sensor reads the force the body exerts on the floor: negate it for the force on
    the body (as in `cfrc_ext`)."""
    adr = [int(model.sensor(FLOOR_SENSOR_PREFIX + name).adr[0]) for name in body_names]
    return (np.asarray(adr)[:, None] + np.arange(3)).reshape(-1)
