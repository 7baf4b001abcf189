"""Domain randomisation of a character env (`randomization=...`, conf/randomization/, docs/randomization.md).

Physical parameters (friction, body masses and centres of mass, PD gains, motor strength) are drawn per env at every
reset and written into that env's world by the engine (`Engine.set_physics_where`: per-world model fields on both
backends). Pushes, observation noise and action delay act in the env's step (`CharEnv` calls the hooks below). All
of it runs on fixed-shape tensors with nothing that waits for the device, so the GPU engine replays it inside the
env's CUDA graphs.

A term is off when its key is null or its range changes nothing ([1, 1] for a scale, zeros for an offset, a push or
the noise, [0, 0] for the delay). An off term draws no random numbers and touches nothing, so with every term off
(`randomization=none`) a run is bit-identical to one without randomisation.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from mimickit.sim.engine import CharState, Engine, PhysicsParams

SCALES = ("friction_scale", "mass_scale", "kp_scale", "kd_scale", "torque_limit_scale")


def sample_uniform(low: float, high: float, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """U(low, high) of `shape`, float32."""
    return low + (high - low) * torch.rand(shape, device=device)


def compute_delayed_actions(
    history: torch.Tensor, actions: torch.Tensor, fresh: torch.Tensor, delays: torch.Tensor
) -> torch.Tensor:
    """Push `actions` (N, A) into `history` (K + 1, N, A; row k holds the action of k steps ago) in place and
    return the action each env applies: row `delays` (N,) of it. An env `fresh` from a reset fills its whole
    history with its first action, so it repeats that action until `delays` steps have passed."""
    history.copy_(torch.cat([actions.unsqueeze(0), history[:-1]], dim=0))
    history.copy_(torch.where(fresh[None, :, None], actions.unsqueeze(0), history))
    return history.gather(0, delays.view(1, -1, 1).expand(1, *actions.shape)).squeeze(0)


def compute_pushed_state(state: CharState, lin_kick: torch.Tensor, ang_kick: torch.Tensor) -> CharState:
    """`state` with velocity kicks added to the root's world-frame linear and angular velocities."""
    return state._replace(root_lin_vel=state.root_lin_vel + lin_kick, root_ang_vel=state.root_ang_vel + ang_kick)


def _range(name: str, value: Sequence[float] | None, length: int = 2) -> tuple[float, ...] | None:
    if value is None:
        return None
    value = tuple(float(v) for v in value)
    if len(value) != length:
        raise ValueError(f"randomization.{name}: expected {length} numbers, got {list(value)}")
    if length == 2 and value[0] > value[1]:
        raise ValueError(f"randomization.{name}: [low, high] with low <= high, got {list(value)}")
    return value


class DomainRandomizer:
    def __init__(
        self,
        engine: Engine,
        *,
        friction_scale: list[float] | None,
        mass_scale: list[float] | None,
        com_offset: list[float] | None,
        kp_scale: list[float] | None,
        kd_scale: list[float] | None,
        torque_limit_scale: list[float] | None,
        push_interval: list[float] | None,
        push_lin_vel: list[float] | None,
        push_ang_vel: list[float] | None,
        obs_noise_std: float,
        action_delay: list[int] | None,
    ):
        """Every setting comes from conf/randomization/*.yaml (null: off). Ranges are [low, high], uniform.

        Args:
            engine: the env's engine; the physical terms must be set before its first step (the GPU engine makes
                their model fields per world then).
            friction_scale: x every geom's sliding friction, one draw per env.
            mass_scale: x each body's mass and inertia, one draw per body and env.
            com_offset: metres added to each body's centre of mass, one draw per axis, body and env.
            kp_scale, kd_scale: x each DoF's PD stiffness, damping; one draw per DoF and env (control_mode pos).
            torque_limit_scale: x each DoF's torque limit (motor strength), one draw per DoF and env.
            push_interval: seconds between two pushes of an env, drawn at resets and after each push.
            push_lin_vel, push_ang_vel: [x, y, z] largest kick of the root's world-frame linear (m/s), angular
                (rad/s) velocity; a push adds U(-v, v) per axis.
            obs_noise_std: standard deviation of Gaussian noise added to every entry of the policy's observation.
            action_delay: control steps an env's actions wait before they are applied, one draw per episode.
        """
        self.engine = engine
        self.num_envs, self.device = engine.num_envs, engine.device
        ranges = {"friction_scale": friction_scale, "mass_scale": mass_scale, "kp_scale": kp_scale,
                  "kd_scale": kd_scale, "torque_limit_scale": torque_limit_scale, "com_offset": com_offset}
        ranges = {name: _range(name, value) for name, value in ranges.items()}
        for name in SCALES:
            if ranges[name] is not None and ranges[name][0] < 0.0:
                raise ValueError(f"randomization.{name}: scales must be >= 0, got {list(ranges[name])}")
        # the physical terms that change something: a scale other than 1, an offset other than 0
        identity = {name: 0.0 if name == "com_offset" else 1.0 for name in ranges}
        self.physics_ranges = {name: r for name, r in ranges.items() if r is not None and r != (identity[name],) * 2}

        self.push_interval = _range("push_interval", push_interval)
        kicks = [_range(name, v, length=3) for name, v in (("push_lin_vel", push_lin_vel), ("push_ang_vel", push_ang_vel))]
        self._kicks = [(0.0,) * 3 if k is None else tuple(abs(v) for v in k) for k in kicks]
        kicks = [torch.tensor(k) for k in self._kicks]
        if torch.cat(kicks).any() and self.push_interval is None:
            raise ValueError("randomization.push_lin_vel/push_ang_vel push at random intervals: set push_interval too")
        if self.push_interval is not None and self.push_interval[0] <= 0.0:
            raise ValueError(f"randomization.push_interval: seconds > 0, got {list(self.push_interval)}")
        self.pushes = self.push_interval is not None and bool(torch.cat(kicks).any())
        self._push_lin_vel, self._push_ang_vel = (k.to(self.device) for k in kicks)

        if obs_noise_std < 0.0:
            raise ValueError(f"randomization.obs_noise_std must be >= 0, got {obs_noise_std}")
        self.obs_noise_std = float(obs_noise_std)
        delay = _range("action_delay", action_delay)
        if delay is not None and (delay[0] < 0 or any(d != int(d) for d in delay)):
            raise ValueError(f"randomization.action_delay: whole control steps >= 0, got {action_delay}")
        self.action_delay = None if delay is None or delay[1] == 0 else (int(delay[0]), int(delay[1]))

        n = self.num_envs
        if self.physics_ranges:  # per-world model fields, at the file's values until the first reset draws
            self.engine.set_physics_where(torch.ones(n, dtype=torch.bool, device=self.device), self._nominal())
        self.push_steps_left = torch.zeros(n, dtype=torch.long, device=self.device)
        if self.action_delay is not None:
            self.delays = torch.zeros(n, dtype=torch.long, device=self.device)
            self._history = torch.zeros(self.action_delay[1] + 1, n, engine.num_dofs, device=self.device)
            self._fresh = torch.ones(n, dtype=torch.bool, device=self.device)

    @property
    def enabled(self) -> bool:
        """Whether any term is on."""
        return bool(self.physics_ranges) or self.pushes or self.obs_noise_std > 0.0 or self.action_delay is not None

    def describe(self) -> str:
        """The terms that are on, for the run's log."""
        parts = [f"{name} {list(r)}" for name, r in self.physics_ranges.items()]
        if self.pushes:
            lin, ang = self._kicks
            parts.append(f"pushes every {list(self.push_interval)} s of up to {list(lin)} m/s, {list(ang)} rad/s")
        if self.obs_noise_std > 0.0:
            parts.append(f"obs noise std {self.obs_noise_std}")
        if self.action_delay is not None:
            parts.append(f"action delay {list(self.action_delay)} steps")
        return "; ".join(parts) or "off"

    # ---- hooks of CharEnv ----
    def reset_where(self, mask: torch.Tensor) -> None:
        """New physical parameters, push time and action delay for the envs where `mask` is true (before their
        state is set, so that derived quantities follow the new model)."""
        if self.physics_ranges:
            self.engine.set_physics_where(mask, self.sample_physics())
        if self.pushes:
            self.push_steps_left.copy_(torch.where(mask, self._sample_push_steps(), self.push_steps_left))
        if self.action_delay is not None:
            low, high = self.action_delay
            delays = torch.randint(low, high + 1, (self.num_envs,), device=self.device)
            self.delays.copy_(torch.where(mask, delays, self.delays))
            self._fresh |= mask

    def delay_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """The actions to apply this step: each env's from `delays` steps ago."""
        if self.action_delay is None:
            return actions
        delayed = compute_delayed_actions(self._history, actions, self._fresh, self.delays)
        self._fresh.zero_()
        return delayed

    def push(self) -> None:
        """Kick the roots of the envs whose push time has come (after the physics step: the next observation and
        step see the new velocity) and draw their next push time."""
        if not self.pushes:
            return
        self.push_steps_left -= 1
        due = self.push_steps_left <= 0
        self.push_steps_left.copy_(torch.where(due, self._sample_push_steps(), self.push_steps_left))
        n, e = self.num_envs, self.engine
        lin = sample_uniform(-1.0, 1.0, (n, 3), self.device) * self._push_lin_vel
        ang = sample_uniform(-1.0, 1.0, (n, 3), self.device) * self._push_ang_vel
        state = CharState(e.root_pos(), e.root_rot(), e.root_lin_vel(), e.root_ang_vel(), e.dof_pos(), e.dof_vel())
        e.set_state_where(due, compute_pushed_state(state, lin, ang))

    def add_obs_noise(self, obs: torch.Tensor) -> torch.Tensor:
        if self.obs_noise_std == 0.0:
            return obs
        return obs + self.obs_noise_std * torch.randn_like(obs)

    # ---- draws ----
    def sample_physics(self) -> PhysicsParams:
        """One draw of every physical term that is on, for every env."""
        shapes = self._physics_shapes()
        return PhysicsParams(**{name: sample_uniform(*r, shapes[name], self.device)
                                for name, r in self.physics_ranges.items()})

    def _nominal(self) -> PhysicsParams:
        """The character file's values of every physical term that is on (a scale of 1, an offset of 0)."""
        shapes = self._physics_shapes()
        return PhysicsParams(**{name: torch.full(shapes[name], 0.0 if name == "com_offset" else 1.0, device=self.device)
                                for name in self.physics_ranges})

    def _physics_shapes(self) -> dict[str, tuple[int, ...]]:
        n, b, d = self.num_envs, self.engine.num_bodies, self.engine.num_dofs
        return {"friction_scale": (n,), "mass_scale": (n, b), "com_offset": (n, b, 3), "kp_scale": (n, d),
                "kd_scale": (n, d), "torque_limit_scale": (n, d)}

    def _sample_push_steps(self) -> torch.Tensor:
        """(N,) control steps until the next push, at least 1."""
        seconds = sample_uniform(*self.push_interval, (self.num_envs,), self.device)
        return torch.clamp(torch.round(seconds / self.engine.control_dt), min=1).long()
