"""The training engine's MuJoCo model rebuilt from the character's MJCF and the metadata's `physics` section, and
one world of it stepped and read as `mimickit.sim.mujoco_engine.MujocoEngine` does.

The model follows `mimickit.sim.character.build_character` with the gains the export read off the compiled training
model (not recomputed from the file): springs zeroed, the passive share of kd as joint damping, the joints' armature
(a robot's motors); one position actuator per DoF with the servo's kp and kv, gear 1, the joint range as ctrlrange;
the torque limit on the joint's actuator force; a condim-3 floor; an accelerometer on the root so that `cfrc_ext` is
computed; implicitfast at the metadata's timestep. One control step writes the PD targets and runs `substeps`
`mj_step`s, then `mj_step1` makes positions and velocities current (the engine's `Batch.step(stage=mjSTAGE_VEL)`).
Given the same state and targets, the two step bit-identically (tests/tools/test_sim2sim.py).
"""
from __future__ import annotations

from typing import Any

import mujoco
import numpy as np

from mimickit.deploy import quat
from mimickit.deploy.metadata import from_json_floats

FLOOR_GEOM = "floor"
CONTACT_SENSOR_SITE = "mimickit_cfrc_site"
FLOOR_SENSOR_PREFIX = "mimickit_floor_"  # + body name (mimickit.sim.character.FLOOR_SENSOR_PREFIX)
MAX_ABS_QVEL = 1.0e3  # MujocoEngine.MAX_ABS_QVEL: beyond it the simulation diverged
_DIVERGENCE_WARNINGS = [int(getattr(mujoco.mjtWarning, f"mjWARN_BAD{x}")) for x in ("QPOS", "QVEL", "QACC")]
_INTEGRATORS = {"implicitfast": mujoco.mjtIntegrator.mjINT_IMPLICITFAST}


def build_model(mjcf: str, physics: dict[str, Any], dof_names: list[str],
                floor_contact_sensors: bool = False) -> tuple[mujoco.MjModel, np.ndarray]:
    """The simulation model and, per actuator, the index of the DoF it drives (in `dof_names` order).
    `floor_contact_sensors`: per body, a sensor of its net contact force with the floor (the training engine's
    `floor_contact_forces`, for MimicKit's fall rule); sensors change no physics."""
    if physics["control_mode"] != "pos":
        raise ValueError(f"sim2sim plays PD-target policies (control_mode pos), not {physics['control_mode']!r}")
    if physics["integrator"] not in _INTEGRATORS:
        raise ValueError(f"unknown integrator {physics['integrator']!r}; known: {sorted(_INTEGRATORS)}")
    spec = mujoco.MjSpec.from_file(str(mjcf))
    kp, kv = np.asarray(physics["servo_kp"], float), np.asarray(physics["servo_kv"], float)
    damping, armature = np.asarray(physics["passive_damping"], float), np.asarray(physics["armature"], float)
    low = from_json_floats(physics["target_low"], -np.inf)
    high = from_json_floats(physics["target_high"], np.inf)
    torque_limit = from_json_floats(physics["torque_limit"], np.inf)
    index = {name: i for i, name in enumerate(dof_names)}

    for name, d, a in zip(dof_names, damping, armature):
        joint = spec.joint(name)
        if joint is None:
            raise ValueError(f"{mjcf}: no joint {name!r} (the metadata's DoF order names it)")
        joint.stiffness = [0.0, 0.0, 0.0]
        joint.damping = [float(d), 0.0, 0.0]
        joint.armature = float(a)
    driven = [a.target for a in spec.actuators]
    for name in dof_names:
        if name not in driven:
            spec.add_actuator(name=name, target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
    for actuator in spec.actuators:
        if actuator.target not in index:
            raise ValueError(f"{mjcf}: actuator {actuator.name!r} drives {actuator.target!r}, not a DoF of the policy")
        i = index[actuator.target]
        actuator.set_to_position(kp=float(kp[i]), kv=float(kv[i]))
        actuator.gear = [1.0, 0, 0, 0, 0, 0]
        actuator.forcelimited = mujoco.mjtLimited.mjLIMITED_FALSE
        limited = np.isfinite(low[i]) and np.isfinite(high[i])
        if limited:
            actuator.ctrlrange = [float(low[i]), float(high[i])]
        actuator.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE if limited else mujoco.mjtLimited.mjLIMITED_FALSE
    for name, limit in zip(dof_names, torque_limit):
        if np.isfinite(limit):
            joint = spec.joint(name)
            joint.actfrcrange = [-float(limit), float(limit)]
            joint.actfrclimited = mujoco.mjtLimited.mjLIMITED_TRUE

    spec.worldbody.add_geom(name=FLOOR_GEOM, type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 1], condim=3)
    if not physics["self_collision"]:
        for geom in spec.geoms:  # visual-only geoms (contype = conaffinity = 0) stay out of collisions
            if geom.name != FLOOR_GEOM and (geom.contype or geom.conaffinity):
                geom.contype, geom.conaffinity = 1, 0
    root_body = spec.worldbody.first_body()
    root_body.add_site(name=CONTACT_SENSOR_SITE)
    spec.add_sensor(type=mujoco.mjtSensor.mjSENS_ACCELEROMETER, objtype=mujoco.mjtObj.mjOBJ_SITE,
                    objname=CONTACT_SENSOR_SITE)
    if floor_contact_sensors:  # as mimickit.sim.character._add_floor_contact_sensors
        force, netforce = 1 << int(mujoco.mjtConDataField.mjCONDATA_FORCE), 3
        for body in [b for b in spec.bodies if b.name != spec.worldbody.name]:
            spec.add_sensor(name=FLOOR_SENSOR_PREFIX + body.name, type=mujoco.mjtSensor.mjSENS_CONTACT,
                            objtype=mujoco.mjtObj.mjOBJ_BODY, objname=body.name, reftype=mujoco.mjtObj.mjOBJ_GEOM,
                            refname=FLOOR_GEOM, intprm=[force, netforce, 1])
    spec.option.timestep = float(physics["timestep"])
    spec.option.integrator = _INTEGRATORS[physics["integrator"]]
    model = spec.compile()
    actuator_dof_ids = np.array([index[model.joint(j).name] for j in model.actuator_trnid[:, 0]], dtype=np.int64)
    return model, actuator_dof_ids


class Simulation:
    """One world: state in and out in the project's conventions (xyzw, world-frame velocities), float64."""

    def __init__(self, model: mujoco.MjModel, actuator_dof_ids: np.ndarray, substeps: int):
        self.model = model
        self.data = mujoco.MjData(model)
        self.substeps = substeps
        self.actuator_dof_ids = actuator_dof_ids
        self._root_qpos = int(model.jnt_qposadr[0])
        self._body_root_ids = model.body_rootid[1:]

    def set_state(self, root_pos, root_rot, root_lin_vel, root_ang_vel, dof_pos, dof_vel) -> None:
        """`Engine.set_state` of one world: a fresh MjData state (warm start and warnings cleared), then mj_forward."""
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        rot = quat.quat_normalize(np.asarray(root_rot, np.float64))
        d.qpos[:] = np.concatenate([root_pos, quat.quat_to_wxyz(rot), dof_pos])
        d.qvel[:] = np.concatenate([root_lin_vel, quat.quat_rotate_inverse(rot, np.asarray(root_ang_vel, np.float64)),
                                    dof_vel])
        mujoco.mj_forward(m, d)

    def set_default_state(self, qpos: np.ndarray) -> None:
        """At rest in `qpos` (what the engine does to a diverged world, `MujocoEngine._write_default_state`)."""
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[:] = qpos
        mujoco.mj_forward(self.model, self.data)

    def step(self, pd_targets: np.ndarray) -> None:
        """PD targets (num_dofs,) in DoF order, held for one control step."""
        self.data.ctrl[:] = pd_targets[self.actuator_dof_ids]
        mujoco.mj_step(self.model, self.data, nstep=self.substeps)
        mujoco.mj_step1(self.model, self.data)

    def diverged(self) -> bool:
        """A divergence warning was raised (MuJoCo then silently resets the world) or the state blew up."""
        d = self.data
        warned = sum(d.warning[w].number for w in _DIVERGENCE_WARNINGS) > 0
        finite = np.isfinite(d.qpos).all() and np.isfinite(d.qvel).all()
        return warned or not finite or np.abs(np.nan_to_num(d.qvel)).max() > MAX_ABS_QVEL

    # ---- the engine's getters (mimickit.sim.character_engine), bodies without the world body ----
    def root_pos(self) -> np.ndarray:
        return self.data.qpos[self._root_qpos : self._root_qpos + 3].copy()

    def root_rot(self) -> np.ndarray:
        return quat.quat_from_wxyz(self.data.qpos[self._root_qpos + 3 : self._root_qpos + 7])

    def body_pos(self) -> np.ndarray:
        return self.data.xpos[1:].copy()

    def body_rot(self) -> np.ndarray:
        return quat.quat_from_wxyz(self.data.xquat[1:])

    def body_lin_vel(self) -> np.ndarray:
        """World velocity of each body origin: cvel's linear part is about the subtree com of the body's root."""
        cvel = self.data.cvel[1:]
        root_com = self.data.subtree_com[self._body_root_ids]
        return cvel[:, 3:6] + np.cross(cvel[:, 0:3], self.data.xpos[1:] - root_com)

    def body_ang_vel(self) -> np.ndarray:
        return self.data.cvel[1:, 0:3].copy()

    def contact_forces(self) -> np.ndarray:
        """Force part of `cfrc_ext`, from the last substep."""
        return self.data.cfrc_ext[1:, 3:6].copy()

    def floor_contact_forces(self) -> np.ndarray:
        """(bodies, 3) world-frame force on each body from its floor contacts, from the last substep (the floor
        sensors of `build_model`, which read the force on the floor: negated)."""
        m = self.model
        adr = [int(m.sensor(FLOOR_SENSOR_PREFIX + m.body(b).name).adr[0]) for b in range(1, m.nbody)]
        return -np.stack([self.data.sensordata[a:a + 3] for a in adr])
