"""CPU engine: `num_envs` separate worlds of one MjModel, stepped in parallel by `mujoco.batch.Batch`.

Batch keeps one state row per world and runs them on a thread pool (bit-identical to a loop over MjData). The
alternative, N characters attached into one MjData, ran no faster on one thread and at half Batch's rate on two (it
cannot use threads; `scripts/bench_sim.py --compare-layouts`), and Batch keeps resets and divergence per world.
"""
from __future__ import annotations

import mujoco
import mujoco.batch
import numpy as np
import torch

from mimickit.sim.character import build_character, floor_sensor_columns
from mimickit.sim.character_engine import CharacterEngine
from mimickit.sim.engine import CharState, ControlMode, PhysicsParams, check_env_ids
from mimickit.sim.physics_params import INERTIAL

_DIVERGENCE_WARNINGS = np.array([int(getattr(mujoco.mjtWarning, f"mjWARN_BAD{x}")) for x in ("QPOS", "QVEL", "QACC")])
_WARNING_COUNT = 1  # column of MjData.warning holding the number of occurrences


def compute_diverged(qpos: np.ndarray, qvel: np.ndarray, warnings: np.ndarray, max_abs_qvel: float) -> np.ndarray:
    """(N,) bool: a divergence warning was raised (MuJoCo then silently resets the world) or the state blew up."""
    warned = warnings[:, _DIVERGENCE_WARNINGS, _WARNING_COUNT].sum(axis=1) > 0
    finite = np.isfinite(qpos).all(axis=1) & np.isfinite(qvel).all(axis=1)
    return warned | ~finite | (np.abs(np.nan_to_num(qvel)).max(axis=1) > max_abs_qvel)


class MujocoEngine(CharacterEngine):
    """`num_envs` copies of one character on the CPU. See `mimickit.sim.engine.Engine` for the conventions."""

    # No physical motion of the character reaches this (PD stress tests peak near 40 rad/s); beyond it, it diverged.
    MAX_ABS_QVEL = 1.0e3

    def __init__(
        self,
        *,
        mjcf: str,
        num_envs: int,
        device: str,
        sim_freq: int,
        control_freq: int,
        control_mode: str,
        self_collision: bool,
        passive_damping_frac: float,
        pd_gains: dict[str, dict] | None,
        nthread: int,
    ) -> None:
        """Every setting comes from conf/sim/mujoco.yaml, the one place its default is written (scripts and tests
        build from it with `mimickit.sim.registry.build_engine`).

        Args:
            mjcf: character file; absolute, or relative to the current directory or to the repository root.
            num_envs: number of independent worlds.
            device: torch device of every tensor in and out (physics runs on the CPU regardless).
            sim_freq: physics steps per second.
            control_freq: `step()` calls per second; must divide sim_freq.
            control_mode: "pos" (PD targets), "torque" or "none".
            self_collision: whether the character's bodies collide with each other.
            passive_damping_frac: share of kd applied as passive joint damping in "pos" mode; it keeps
                torque-saturated servos from chattering (see `build_character`).
            pd_gains: the robot's per-joint-group kp, kd, torque limit and armature (`build_character`); None takes
                kp/kd from the file's joint stiffness/damping.
            nthread: Batch threads, the caller's included; 0 uses every CPU.
        """
        super().__init__(
            mjcf, num_envs, device, sim_freq, control_freq, control_mode, self_collision, passive_damping_frac,
            pd_gains,
        )
        self.num_unstable_resets = 0
        self._nthread = nthread
        self._floor_columns: np.ndarray | None = None  # sensordata columns of the floor forces, once enabled
        self._stepped = self._physics_set = False
        self._make_batch()
        self._actuator_dof_ids = torch.as_tensor(self.character.actuator_dof_ids, device=self.device)
        self._unstable_ids: list[np.ndarray] = []

        self._dof_limits = (self._to_device(self.character.dof_low), self._to_device(self.character.dof_high))
        self._torque_limits = self._to_device(self.character.torque_limit)
        self._write_default_state(np.arange(num_envs))

    def _make_batch(self) -> None:
        """The Batch of `self.mj_model` and its bound fields."""
        self._batch = mujoco.batch.Batch(self.mj_model, nsim=self.num_envs, nthread=self._nthread)
        self._qpos, self._qvel, self._ctrl = (self._batch.bind(n) for n in ("qpos", "qvel", "ctrl"))
        read_fields = ("qpos", "qvel", "xpos", "xquat", "cvel", "subtree_com", "cfrc_ext")
        if self._floor_columns is not None:
            read_fields += ("sensordata",)
        self._fields = {name: self._batch.bind(name) for name in read_fields}
        self._ctrl_view = torch.from_numpy(self._ctrl)  # aliases the batch's control rows

    # ---- floor contact forces: per-body contact sensors, added to the model on demand ----
    def enable_floor_contact_forces(self) -> None:
        """Rebuild the model with one floor contact sensor per body (`build_character`'s floor_contact_sensors) and
        the Batch on it, keeping every world's state; the physics is unchanged."""
        if self._floor_columns is not None:
            return
        if self._stepped or self._physics_set:
            raise RuntimeError("enable_floor_contact_forces must come before the first step and set_physics_where "
                               "(it rebuilds the model)")
        state = self._batch.state.copy()
        self.character = build_character(self.mjcf, **self._character_settings, floor_contact_sensors=True)
        self.mj_model = self.character.model
        self._floor_columns = floor_sensor_columns(self.mj_model, self.body_names)
        self._make_batch()
        self._batch.state[:] = state
        self._batch.forward(np.arange(self.num_envs))
        self._cache.clear()

    def floor_contact_forces(self) -> torch.Tensor:
        if self._floor_columns is None:
            raise RuntimeError("call enable_floor_contact_forces() before reading floor_contact_forces()")

        def compute() -> torch.Tensor:
            on_floor = self._fields["sensordata"][:, self._floor_columns]  # the force on the floor
            return -self._to_device(on_floor).view(self.num_envs, self.num_bodies, 3)

        return self._cached("floor_contact_forces", compute)

    # ---- writes ----
    def set_state(self, env_ids: torch.Tensor, state: CharState) -> None:
        ids = check_env_ids(env_ids, self.num_envs, "cpu").numpy()
        n = len(ids)
        if n == 0:
            return
        qpos, qvel = self._state_rows(n, torch.float64, "cpu", state)
        self._batch.reset(ids, stage=mujoco.mjtStage.mjSTAGE_NONE)
        self._qpos[ids] = qpos.numpy()
        self._qvel[ids] = qvel.numpy()
        self._batch.forward(ids)
        self._cache.clear()

    def set_actions(self, actions: torch.Tensor) -> None:
        """PD targets (pos) or torques (torque), (N, num_dofs) in DoF order; ignored in mode "none"."""
        self._check_env_tensor("actions", actions, self.num_envs, self.num_dofs)
        if self.control_mode == ControlMode.NONE:
            return
        self._ctrl_view.copy_(actions.detach()[:, self._actuator_dof_ids])

    def set_physics_where(self, mask: torch.Tensor, params: PhysicsParams) -> None:
        """Per-world model fields through `Batch.expand` (the first call of a field copies it for every world), the
        rows of the masked worlds rewritten; after a mass or centre-of-mass change `Batch.set_const` recomputes
        what MuJoCo derives from them (subtree masses, the inverse inertias that scale constraint softness), 36 us a
        world. A world left at the file's values steps bit-identically to one of an unexpanded model."""
        names = self._physics_fields(params)
        ids = self._check_mask(mask).cpu().nonzero().flatten()
        if not names or ids.numel() == 0:
            return
        arrays = {name: self._batch.expand(name) for name in names}
        rows = PhysicsParams(*(None if x is None else x.detach().cpu()[ids] for x in params))
        new = self._new_model_fields(rows, {name: torch.from_numpy(a[ids.numpy()]) for name, a in arrays.items()})
        for name, array in arrays.items():
            array[ids.numpy()] = new[name].numpy()
        if any(getattr(params, name) is not None for name in INERTIAL):
            self._batch.set_const(ids.numpy())
        self._physics_set = True
        self._cache.clear()

    def step(self) -> None:
        # stage VEL makes positions, velocities and cvel describe the new state rather than the last substep's start.
        self._batch.step(nstep=self.substeps, stage=mujoco.mjtStage.mjSTAGE_VEL)
        self._stepped = True
        self._reset_diverged()
        self._cache.clear()

    def pop_unstable_mask(self) -> torch.Tensor:
        mask = np.zeros(self.num_envs, dtype=bool)
        for ids in self._unstable_ids:
            mask[ids] = True
        self._unstable_ids = []
        return torch.from_numpy(mask).to(self.device)

    def mj_data(self, env_id: int) -> mujoco.MjData:
        """A standalone MjData of one env with derived fields computed, e.g. for rendering."""
        data = self._batch.get_data(env_id)
        mujoco.mj_forward(self.mj_model, data)
        return data

    # ---- internals ----
    def _reset_diverged(self) -> None:
        diverged = compute_diverged(self._qpos, self._qvel, self._batch.warning, self.MAX_ABS_QVEL)
        if not diverged.any():
            return
        ids = np.flatnonzero(diverged)
        self._write_default_state(ids)
        self._unstable_ids.append(ids)
        self.num_unstable_resets += len(ids)

    def _write_default_state(self, ids: np.ndarray) -> None:
        """Standing T-pose at rest; also clears MuJoCo's warning counters of those worlds."""
        self._batch.reset(ids, stage=mujoco.mjtStage.mjSTAGE_NONE)
        self._qpos[ids] = self.character.default_qpos
        self._qvel[ids] = 0.0
        self._batch.forward(ids)
        self._cache.clear()

    def _field(self, name: str) -> torch.Tensor:
        """A batch array as a float32 tensor on `device`: a copy, as MuJoCo's arrays are float64 and reused."""
        return self._cached(name, lambda: self._to_device(self._fields[name]))

    @property
    def _model_device(self) -> torch.device:
        return torch.device("cpu")  # MuJoCo's arrays, whatever device the tensors in and out use

    def _to_device(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(self.device)
