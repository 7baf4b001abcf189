"""GPU engine: `num_envs` worlds of one character on MuJoCo Warp, sharing its state with torch without copies.

The model is built by `mimickit.sim.character` exactly as for the CPU engine, then moved to the GPU once
(`put_model` / `put_data`). Warp arrays are exposed as zero-copy torch views (`wp.to_torch`): actions are written into
the `ctrl` view, resets write `qpos`/`qvel` rows by env id or mask, and getters convert MuJoCo's conventions (wxyz,
local root angular velocity, com-based velocities) in torch on the GPU. One `step()` replays a CUDA graph holding the
`substeps` physics steps, a divergence guard and the refresh of derived quantities, so it costs one launch and
never waits for the GPU. `graphed` goes further: it captures a whole env step (torch work and physics) as one graph.
See /work/shared/notes/gpu.md and docs/gpu.md for the measured facts behind the defaults.

Ordering: Warp launches on its default stream, which is a blocking stream, so it is ordered with torch work on
torch's default stream. Run torch work that touches the engine's tensors on that default stream.
"""
from __future__ import annotations

import gc
import warnings
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import mujoco
import mujoco_warp as mjw
import numpy as np
import torch
import warp as wp
from mujoco_warp._src import support as mjw_support  # contact_force_fn, as MuJoCo Warp's own cfrc_ext uses it
from mujoco_warp._src.types import vec5

from mimickit.sim.character_engine import CharacterEngine
from mimickit.sim.engine import CharState, ControlMode, PhysicsParams, check_env_ids

# Overflows that drop contacts or constraint rows, i.e. silently wrong physics. Solver iteration limits are not here:
# hitting them is normal under heavy contact and only costs accuracy.
BUFFER_OVERFLOWS = (
    mjw.OverflowType.NEFC | mjw.OverflowType.NJMAX_NNZ | mjw.OverflowType.BROADPHASE | mjw.OverflowType.NARROWPHASE
)
# Most contacts a geom of each type makes with a plane in MuJoCo's collision functions; other types count as boxes.
_PLANE_CONTACTS = {
    mujoco.mjtGeom.mjGEOM_SPHERE: 1,
    mujoco.mjtGeom.mjGEOM_ELLIPSOID: 1,
    mujoco.mjtGeom.mjGEOM_CAPSULE: 2,
    mujoco.mjtGeom.mjGEOM_BOX: 4,
}


def compute_contact_capacity(model: mujoco.MjModel) -> tuple[int, int]:
    """Per-world (nconmax, njmax) that a character lying flat on the floor cannot exceed.

    Contacts: every character geom touching every floor plane at once with its most contacts, plus one self
    contact per geom. Constraint rows: each contact's friction-cone rows (pyramidal 2 (condim - 1), elliptic
    condim), one row per limited joint and up to 6 per equality. Measured on the humanoid: 48 / 192 never overflowed.
    """
    planes = np.flatnonzero((model.geom_type == mujoco.mjtGeom.mjGEOM_PLANE) & (model.geom_bodyid == 0))
    # visual-only geoms (contype = conaffinity = 0: the G1's meshes) never collide
    body_geoms = np.flatnonzero((model.geom_bodyid > 0) & ((model.geom_contype | model.geom_conaffinity) != 0))

    def rows(condim: int) -> int:
        if condim == 1:
            return 1
        return 2 * (condim - 1) if model.opt.cone == mujoco.mjtCone.mjCONE_PYRAMIDAL else condim

    ncon, nrows = 0, 0
    for plane in planes:
        for geom in body_geoms:
            contacts = _PLANE_CONTACTS.get(int(model.geom_type[geom]), 4)
            ncon += contacts
            nrows += contacts * rows(int(max(model.geom_condim[geom], model.geom_condim[plane])))
    self_condim = int(model.geom_condim[body_geoms].max(initial=1))
    ncon += len(body_geoms)
    nrows += len(body_geoms) * rows(self_condim) + int(model.jnt_limited.sum()) + 6 * model.neq
    round_up = lambda x, k: -(-x // k) * k  # noqa: E731
    return round_up(max(ncon, 1), 8), round_up(max(nrows, 1), 16)


@wp.kernel
def _reset_diverged_worlds(
    max_abs_qvel: float,
    default_qpos: wp.array(dtype=float),
    end_of_step: int,
    qpos: wp.array2d(dtype=float),
    qvel: wp.array2d(dtype=float),
    qacc_warmstart: wp.array2d(dtype=float),
    cfrc_ext: wp.array2d(dtype=wp.spatial_vector),
    overflow: wp.array(dtype=wp.int32),
    reset_this_step: wp.array(dtype=wp.int32),
    diverged: wp.array(dtype=wp.int32),
    num_diverged: wp.array(dtype=wp.int32),
):
    """Put a world whose state is not finite or spins faster than `max_abs_qvel` back to the default pose, at rest,
    forgetting the buffer overflows its blow-up caused. MuJoCo Warp has no divergence handling of its own: a NaN
    would stay in its world forever. At the end of a step, worlds reset during it are put back to that pose again,
    so that they end the step in it."""
    world = wp.tid()
    bad = int(0)
    for i in range(qpos.shape[1]):
        if not wp.isfinite(qpos[world, i]):
            bad = 1
    for i in range(qvel.shape[1]):
        v = qvel[world, i]
        if not wp.isfinite(v) or wp.abs(v) > max_abs_qvel:
            bad = 1
    if bad == 1:
        overflow[world] = 0
        reset_this_step[world] = 1
        diverged[world] = 1
        wp.atomic_add(num_diverged, 0, 1)
    if bad == 1 or (end_of_step == 1 and reset_this_step[world] == 1):
        for i in range(qpos.shape[1]):
            qpos[world, i] = default_qpos[i]
        for i in range(qvel.shape[1]):
            qvel[world, i] = 0.0
            qacc_warmstart[world, i] = 0.0
        for b in range(cfrc_ext.shape[1]):
            cfrc_ext[world, b] = wp.spatial_vector()


@wp.kernel
def _accumulate_floor_contact_forces(
    opt_cone: int,
    geom_bodyid: wp.array(dtype=int),
    contact_frame: wp.array(dtype=wp.mat33),
    contact_friction: wp.array(dtype=vec5),
    contact_dim: wp.array(dtype=int),
    contact_geom: wp.array(dtype=wp.vec2i),
    contact_efc_address: wp.array2d(dtype=int),
    contact_worldid: wp.array(dtype=int),
    contact_adhesion: wp.array(dtype=float),
    efc_force: wp.array2d(dtype=float),
    njmax: int,
    nacon: wp.array(dtype=int),
    forces: wp.array3d(dtype=float),
):
    """One thread per contact slot: add the world-frame force of a contact between a world geom (the floor) and a
    character body to that body's row, (nworld, num_bodies, 3). Signs as in MuJoCo's cfrc_ext: the contact force
    acts on geom[1]'s body and its opposite on geom[0]'s; self contacts are skipped."""
    contact = wp.tid()
    if contact >= nacon[0]:
        return
    geom = contact_geom[contact]
    if geom[0] < 0 or geom[1] < 0:
        return
    body0 = geom_bodyid[geom[0]]
    body1 = geom_bodyid[geom[1]]
    body = int(0)
    sign = float(0.0)
    if body0 == 0 and body1 != 0:
        body = body1
        sign = 1.0
    if body1 == 0 and body0 != 0:
        body = body0
        sign = -1.0
    if sign == 0.0:
        return
    world = contact_worldid[contact]
    force = mjw_support.contact_force_fn(opt_cone, contact_frame, contact_friction, contact_dim, contact_efc_address,
                                         contact_adhesion, efc_force, njmax, nacon, world, contact, True)
    top = wp.spatial_top(force)
    for k in range(3):
        wp.atomic_add(forces, world, body - 1, k, sign * top[k])


class MjwarpEngine(CharacterEngine):
    """`num_envs` copies of one character on a CUDA GPU. See `mimickit.sim.engine.Engine` for the conventions.

    Getters return fresh tensors (a snapshot of the state, like the CPU engine), computed once per step on first use.
    """

    # As in the CPU engine: no physical motion of the character reaches this; beyond it, the world diverged.
    MAX_ABS_QVEL = 1.0e3
    # Reading the overflow flags waits for the GPU, so it is done at the first step and then every this many steps.
    OVERFLOW_CHECK_INTERVAL = 100

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
        nconmax: int | None,
        njmax: int | None,
        graph: bool,
    ) -> None:
        """Every setting comes from conf/sim/mjwarp.yaml, the one place its default is written (scripts and tests
        build from it with `mimickit.sim.registry.build_engine`).

        Args:
            mjcf: character file; absolute, or relative to the current directory or to the repository root.
            num_envs: number of independent worlds.
            device: CUDA torch device holding the simulation and every tensor in and out; "cpu" runs MuJoCo Warp's
                CPU backend (slow, for tests on machines without a GPU).
            sim_freq: physics steps per second.
            control_freq: `step()` calls per second; must divide sim_freq.
            control_mode: "pos" (PD targets), "torque" or "none".
            self_collision: whether the character's bodies collide with each other.
            passive_damping_frac: share of kd applied as passive joint damping in "pos" mode (see `build_character`).
            pd_gains: the robot's per-joint-group kp, kd, torque limit and armature (`build_character`); None takes
                kp/kd from the file's joint stiffness/damping.
            nconmax: contacts allocated per world (pooled over all worlds); None derives it from the model.
            njmax: constraint rows allocated per world (a hard per-world cap); None derives it from the model.
            graph: replay `step()` as a captured CUDA graph (False, or a CPU device, launches every kernel from Python).
        """
        if torch.device(device).type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: torch sees no CUDA device")
        if torch.device(device).type not in ("cuda", "cpu"):
            raise ValueError(f"device must be a CUDA device (or 'cpu' for slow tests), got {device!r}")
        super().__init__(
            mjcf, num_envs, device, sim_freq, control_freq, control_mode, self_collision, passive_damping_frac,
            pd_gains,
        )
        default_nconmax, default_njmax = compute_contact_capacity(self.mj_model)
        self.nconmax = default_nconmax if nconmax is None else nconmax
        self.njmax = default_njmax if njmax is None else njmax

        wp.config.quiet = True  # no per-module load lines in training logs
        wp.init()
        self._wp_device = wp.get_device(str(self.device))
        with wp.ScopedDevice(self._wp_device):
            self._model, self._data = self._put_on_device()
            self._diverged_wp = wp.zeros(num_envs, dtype=wp.int32)  # since the last pop_unstable_mask
            self._reset_this_step_wp = wp.zeros(num_envs, dtype=wp.int32)
            self._num_diverged_wp = wp.zeros(1, dtype=wp.int32)
            self._default_qpos_wp = wp.array(self.character.default_qpos.astype(np.float32), dtype=float)
        d = self._data
        self._qpos, self._qvel, self._ctrl = (wp.to_torch(a) for a in (d.qpos, d.qvel, d.ctrl))
        self._qacc_warmstart = wp.to_torch(d.qacc_warmstart)
        read_fields = ("qpos", "qvel", "xpos", "xquat", "cvel", "subtree_com", "cfrc_ext")
        self._views = {name: wp.to_torch(getattr(d, name)) for name in read_fields}  # zero-copy
        self._overflow, self._diverged = wp.to_torch(d.overflow), wp.to_torch(self._diverged_wp)
        self._num_diverged = wp.to_torch(self._num_diverged_wp)

        self._actuator_dof_ids = torch.as_tensor(self.character.actuator_dof_ids, device=self.device)
        self._default_qpos = torch.as_tensor(self.character.default_qpos, dtype=torch.float32, device=self.device)
        self._dof_limits = tuple(torch.as_tensor(x, dtype=torch.float32, device=self.device)
                                 for x in (self.character.dof_low, self.character.dof_high))
        self._torque_limits = torch.as_tensor(self.character.torque_limit, dtype=torch.float32, device=self.device)
        self._num_steps = 0
        self._outer_capture: GraphedCall | None = None  # the capture `graphed` is recording, if any
        self._model_views: dict[str, torch.Tensor] = {}  # model fields made per world (set_physics_where)

        self._reset_this_step = wp.to_torch(self._reset_this_step_wp)
        self._floor_forces_wp: wp.array | None = None  # floor contact forces, once enabled
        self._floor_stale: torch.Tensor | None = None  # (num_envs,) set since the last step: no contacts of its own

        self._step_graph = self._refresh_graph = None
        self._advance()  # compiles every kernel (minutes for a new model, then cached in ~/.cache/warp)
        if graph and self.device.type == "cuda":
            self._step_graph, self._refresh_graph = self._capture(self._advance), self._capture(self._refresh)
        self._write_default_state_all()

    @property
    def num_unstable_resets(self) -> int:
        """Running total of diverged worlds reset by the engine (reading it waits for the GPU)."""
        return int(self._num_diverged.item())

    def _field(self, name: str) -> torch.Tensor:
        """A snapshot of a MuJoCo Warp array: the graph replay overwrites the shared memory at the next step."""
        return self._cached(name, lambda: self._views[name].clone())

    # ---- floor contact forces: accumulated from the contact buffer on demand ----
    def enable_floor_contact_forces(self) -> None:
        """Allocate the floor force buffer; the model and the step graphs are unchanged."""
        if self._floor_forces_wp is not None:
            return
        with wp.ScopedDevice(self._wp_device):
            self._floor_forces_wp = wp.zeros((self.num_envs, self.num_bodies, 3), dtype=float)
        self._floor_stale = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)

    def floor_contact_forces(self) -> torch.Tensor:
        """From the last substep's contacts (what `cfrc_ext` is computed from): one kernel over the contact slots of
        all worlds, nothing read back. Worlds teleported since (set_state, a divergence reset) read zeros, as their
        `cfrc_ext` does."""
        if self._floor_forces_wp is None:
            raise RuntimeError("call enable_floor_contact_forces() before reading floor_contact_forces()")
        return self._cached("floor_contact_forces", self._compute_floor_contact_forces)

    def _compute_floor_contact_forces(self) -> torch.Tensor:
        m, d, forces = self._model, self._data, self._floor_forces_wp
        forces_t = wp.to_torch(forces)
        forces_t.zero_()
        with wp.ScopedDevice(self._wp_device):
            wp.launch(
                _accumulate_floor_contact_forces,
                dim=d.naconmax,
                inputs=[m.opt.cone, m.geom_bodyid, d.contact.frame, d.contact.friction, d.contact.dim, d.contact.geom,
                        d.contact.efc_address, d.contact.worldid, d.contact.adhesion, d.efc.force, d.njmax, d.nacon],
                outputs=[forces],
            )
        stale = (self._floor_stale | (self._reset_this_step != 0)).view(-1, 1, 1)
        return torch.where(stale, torch.zeros_like(forces_t), forces_t)

    def _mark_floor_stale(self, rows: torch.Tensor | None) -> None:
        """The worlds whose contacts no longer describe their state: `rows` (ids or a bool mask), None: all."""
        if self._floor_stale is None:
            return
        if rows is None:
            self._floor_stale.fill_(True)
        elif rows.dtype == torch.bool:
            self._floor_stale |= rows
        else:
            self._floor_stale[rows] = True

    # ---- writes ----
    def set_state(self, env_ids: torch.Tensor, state: CharState) -> None:
        ids = check_env_ids(env_ids, self.num_envs, self.device)  # one sync per call
        if ids.numel() == 0:
            return
        qpos, qvel = self._state_rows(ids.numel(), torch.float32, self.device, state)
        self._qpos[ids] = qpos
        self._qvel[ids] = qvel
        self._qacc_warmstart[ids] = 0.0  # a teleported env keeps nothing of its past: no solver warm start,
        self._views["cfrc_ext"][ids] = 0.0  # no contact forces until it steps
        self._mark_floor_stale(ids)
        self._cache.clear()
        self._launch(self._refresh_graph, self._refresh)

    def set_state_where(self, mask: torch.Tensor, state: CharState) -> None:
        """Masked writes of every row: no id list, so nothing waits for the GPU."""
        rows = self._check_mask(mask).unsqueeze(-1)
        qpos, qvel = self._state_rows(self.num_envs, torch.float32, self.device, state)
        self._qpos.copy_(torch.where(rows, qpos, self._qpos))
        self._qvel.copy_(torch.where(rows, qvel, self._qvel))
        self._qacc_warmstart.masked_fill_(rows, 0.0)
        self._views["cfrc_ext"].masked_fill_(rows.unsqueeze(-1), 0.0)
        self._mark_floor_stale(rows.squeeze(-1))
        self._cache.clear()
        self._launch(self._refresh_graph, self._refresh)

    def set_actions(self, actions: torch.Tensor) -> None:
        """PD targets (pos) or torques (torque), (N, num_dofs) in DoF order; ignored in mode "none"."""
        self._check_env_tensor("actions", actions, self.num_envs, self.num_dofs)
        if self.control_mode == ControlMode.NONE:
            return
        self._ctrl.copy_(self._ready(actions)[:, self._actuator_dof_ids])

    def set_physics_where(self, mask: torch.Tensor, params: PhysicsParams) -> None:
        """Per-world model fields: MuJoCo Warp reads each batched model array at row `world % rows`, so a field
        copied to one row per world (at the first call that sets it, which captures the step graphs again) holds a
        value per world; masked rows are then written in place, nothing waits for the device, and the call may run
        inside a graph. Subtree masses follow mass changes; the constants MuJoCo derives from the inertias to scale
        constraint softness (`body_invweight0`, `dof_invweight0`) keep the file's values, which the CPU engine
        recomputes (MuJoCo Warp's set_const works on every world and the state at once)."""
        names = self._physics_fields(params)
        if not names:
            return
        rows = self._check_mask(mask)
        new_fields = [name for name in names if name not in self._model_views]
        if new_fields:
            self._make_per_world(new_fields)
        ready = PhysicsParams(*(None if x is None else self._ready(x) for x in params))
        new = self._new_model_fields(ready, {name: self._model_views[name] for name in names})
        for name in names:
            view = self._model_views[name]
            where = rows.view(-1, *([1] * (view.dim() - 1)))
            view.copy_(torch.where(where, new[name].to(view.dtype), view))

    def step(self) -> None:
        self._launch(self._step_graph, self._advance)
        if self._floor_stale is not None:
            self._floor_stale.zero_()
        self._cache.clear()
        if self._outer_capture is None:
            self._count_steps(1)
        else:
            self._outer_capture.steps_per_call += 1

    def pop_unstable_mask(self) -> torch.Tensor:
        mask = self._diverged != 0
        self._diverged.zero_()
        return mask

    def graphed(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """`function` captured, together with the physics it runs, in one CUDA graph (see `GraphedCall`)."""
        if self._step_graph is None:
            return function
        return GraphedCall(self, function)

    def check_overflow(self) -> None:
        """Raise if any world ran out of contact or constraint buffers since the engine was built (waits for the GPU)."""
        overflowed = (self._overflow & int(BUFFER_OVERFLOWS)) != 0
        if not bool(overflowed.any()):
            return
        kinds = [f.name for f in mjw.OverflowType if f in BUFFER_OVERFLOWS and bool((self._overflow & int(f)).any())]
        raise RuntimeError(
            f"MuJoCo Warp buffer overflow {kinds} in {int(overflowed.sum())} of {self.num_envs} worlds: contacts or "
            f"constraints were dropped. Raise nconmax (now {self.nconmax} per world) for BROADPHASE/NARROWPHASE, "
            f"njmax (now {self.njmax}) for NEFC/NJMAX_NNZ."
        )

    def mj_data(self, env_id: int) -> mujoco.MjData:
        """A host MjData of one env with derived fields computed, e.g. for rendering."""
        data = mujoco.MjData(self.mj_model)
        data.qpos[:] = self._qpos[env_id].double().cpu().numpy()
        data.qvel[:] = self._qvel[env_id].double().cpu().numpy()
        mujoco.mj_forward(self.mj_model, data)
        return data

    # ---- internals ----
    def _put_on_device(self) -> tuple[mjw.Model, mjw.Data]:
        host_data = mujoco.MjData(self.mj_model)
        host_data.qpos[:] = self.character.default_qpos
        mujoco.mj_forward(self.mj_model, host_data)
        model = mjw.put_model(self.mj_model)
        model.opt.run_rne_postconstraint = True  # fills cfrc_ext, whatever sensors the model has
        model.opt.warn_overflow = 0  # `check_overflow` reports once, instead of a kernel printf per world and step
        data = mjw.put_data(self.mj_model, host_data, nworld=self.num_envs, nconmax=self.nconmax, njmax=self.njmax)
        return model, data

    def _make_per_world(self, names: list[str]) -> None:
        """Copy model fields to one row per world and capture the step graphs again (they hold array addresses)."""
        if self._num_steps > 0 or self._outer_capture is not None:
            raise RuntimeError(f"model fields {names} must become per world before the first step (graphs captured "
                               "since hold the shared arrays): call set_physics_where before stepping")
        with wp.ScopedDevice(self._wp_device):
            for name in names:
                shared = getattr(self._model, name)
                if shared.ndim < 2 or shared.shape[0] not in (1, self.num_envs):
                    raise RuntimeError(f"this MuJoCo Warp version does not batch model field {name!r} over worlds "
                                       f"(shape {shared.shape})")
                if shared.shape[0] == 1:
                    per_world = np.repeat(shared.numpy(), self.num_envs, axis=0)
                    setattr(self._model, name, wp.array(per_world, dtype=shared.dtype))
                self._model_views[name] = wp.to_torch(getattr(self._model, name))
        if self._step_graph is not None:
            self._step_graph = self._refresh_graph = None
            self._step_graph, self._refresh_graph = self._capture(self._advance), self._capture(self._refresh)

    def _advance(self) -> None:
        """One control step: the physics substeps, each behind the divergence guard, then the derived quantities.

        Guarding before every substep keeps a non-finite state out of collision detection, where it could fill the
        contact and constraint buffers that all worlds share."""
        self._reset_this_step_wp.zero_()
        for _ in range(self.substeps):
            self._reset_diverged(end_of_step=False)
            mjw.step(self._model, self._data)
        self._reset_diverged(end_of_step=True)
        self._refresh()

    def _reset_diverged(self, end_of_step: bool) -> None:
        d = self._data
        wp.launch(
            _reset_diverged_worlds,
            dim=self.num_envs,
            inputs=[self.MAX_ABS_QVEL, self._default_qpos_wp, int(end_of_step), d.qpos, d.qvel, d.qacc_warmstart,
                    d.cfrc_ext],
            outputs=[d.overflow, self._reset_this_step_wp, self._diverged_wp, self._num_diverged_wp],
        )

    def _refresh(self) -> None:
        """Body poses, centres of mass and com-based velocities from qpos/qvel (a step leaves them one substep old)."""
        mjw.kinematics(self._model, self._data)
        mjw.com_pos(self._model, self._data)
        mjw.com_vel(self._model, self._data)

    def _capture(self, function: Callable[[], None]) -> wp.Graph | None:
        if not wp.is_mempool_enabled(self._wp_device):
            warnings.warn("CUDA graphs need Warp's memory pools, which are off on this device; MjwarpEngine launches "
                          "kernels one by one", stacklevel=3)
            return None
        with _gc_paused(), wp.ScopedDevice(self._wp_device), wp.ScopedCapture(force_module_load=False) as capture:
            function()
        return capture.graph

    def _launch(self, graph: wp.Graph | None, function: Callable[[], None]) -> None:
        """Replay `graph`; inside a `GraphedCall` capture, record `function`'s kernels into that capture instead."""
        with wp.ScopedDevice(self._wp_device):
            if graph is None or self._outer_capture is not None:
                function()
            else:
                wp.capture_launch(graph)

    def _count_steps(self, num_steps: int) -> None:
        """Bookkeeping of `num_steps` control steps taken (eagerly or by a replay): overflow checks at the first and
        then periodically, and no cached getter results of earlier states."""
        before = self._num_steps
        self._num_steps += num_steps
        if before == 0 or before // self.OVERFLOW_CHECK_INTERVAL != self._num_steps // self.OVERFLOW_CHECK_INTERVAL:
            self.check_overflow()
        self._cache.clear()

    def _write_default_state_all(self) -> None:
        """Standing T-pose at rest everywhere, with the counters and flags of the warm-up step cleared."""
        self._qpos.copy_(self._default_qpos.expand_as(self._qpos))
        self._qvel.zero_()
        self._ctrl.zero_()
        self._overflow.zero_()
        self._diverged.zero_()
        self._num_diverged.zero_()
        self._qacc_warmstart.zero_()
        self._views["cfrc_ext"].zero_()
        self._mark_floor_stale(None)
        self._cache.clear()
        self._launch(self._refresh_graph, self._refresh)

    def _ready(self, value: torch.Tensor) -> torch.Tensor:
        return value.detach().to(self.device, torch.float32)


class GraphedCall:
    """Replays a function of fixed-shape tensors, and every engine call it makes, as one CUDA graph.

    The first `WARMUP_CALLS` calls run eagerly (lazy initialisations must not happen during capture). The next one
    copies its arguments into static buffers and captures the function on a side stream, with MuJoCo Warp's kernels
    recorded into the same capture (Warp's external-capture mode), so a whole env step (actions, physics, observations,
    rewards) is one launch. Every call then copies its arguments in, replays, and returns the tensors the captured
    call returned, overwritten in place by each replay. Torch's default generator advances on each replay as it would
    eagerly, so sampling inside the function stays random.
    """

    WARMUP_CALLS = 2

    def __init__(self, engine: MjwarpEngine, function: Callable[..., Any]):
        self.engine = engine
        self.function = function
        self.steps_per_call = 0  # engine control steps the function takes, counted during capture
        self._calls = 0
        self._graph: torch.cuda.CUDAGraph | None = None
        self._warp_graph: wp.Graph | None = None  # keeps Warp's allocations of the capture alive
        self._inputs: list[torch.Tensor] = []
        self._outputs: Any = None

    def __call__(self, *args: torch.Tensor) -> Any:
        if self._graph is None:
            self._calls += 1
            if self._calls <= self.WARMUP_CALLS:
                return self.function(*args)
            self._capture(args)
        for static, value in zip(self._inputs, args, strict=True):
            static.copy_(value)
        self._graph.replay()
        self.engine._count_steps(self.steps_per_call)
        return self._outputs

    def _capture(self, args: tuple[torch.Tensor, ...]) -> None:
        engine = self.engine
        self._inputs = [torch.as_tensor(a, device=engine.device).clone() for a in args]
        torch.cuda.synchronize(engine.device)
        stream = torch.cuda.Stream(engine.device)
        graph = torch.cuda.CUDAGraph()
        engine._outer_capture = self
        try:
            with (
                _gc_paused(),
                wp.ScopedDevice(engine._wp_device),
                wp.ScopedStream(wp.stream_from_torch(stream)),
                torch.cuda.graph(graph, stream=stream, capture_error_mode="thread_local"),
            ):
                wp.capture_begin(force_module_load=False, external=True)
                try:
                    self._outputs = self.function(*self._inputs)
                finally:
                    self._warp_graph = wp.capture_end()
        finally:
            engine._outer_capture = None
        self._graph = graph


@contextmanager
def _gc_paused() -> Iterator[None]:
    """A garbage collection during capture could record the release of an old graph into the new one."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
