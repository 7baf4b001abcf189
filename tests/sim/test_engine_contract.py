"""The engine contract, run against every backend (`backend` fixture in conftest.py).

Reference values come from a plain `mujoco.MjData` on the same built model (`build_character`), with MuJoCo's own
conventions converted here by MuJoCo's functions, independently of the engine's code.
"""
from __future__ import annotations

import mujoco
import numpy as np
import pytest
import torch

from mimickit.sim.character import build_character
from mimickit.sim.engine import CharState
from mimickit.sim.mujoco_engine import MujocoEngine

GRAVITY = 9.81


def _random_state(engine, n: int, seed: int, height: float = 1.5, speed: float = 1.0) -> CharState:
    gen = torch.Generator().manual_seed(seed)
    low, high = (x.cpu() for x in engine.dof_limits)
    u = torch.rand(n, engine.num_dofs, generator=gen)
    rot = torch.randn(n, 4, generator=gen)
    return CharState(
        root_pos=torch.cat([torch.rand(n, 2, generator=gen) - 0.5, torch.full((n, 1), height)], dim=1),
        root_rot=rot / rot.norm(dim=1, keepdim=True),
        dof_pos=low + (high - low) * (0.3 + 0.4 * u),
        root_lin_vel=speed * torch.randn(n, 3, generator=gen),
        root_ang_vel=speed * torch.randn(n, 3, generator=gen),
        dof_vel=speed * torch.randn(n, engine.num_dofs, generator=gen),
    )


def _to(engine, state: CharState) -> CharState:
    return CharState(*(x.to(engine.device) for x in state))


def _reference_data(model: mujoco.MjModel, state: CharState, i: int) -> mujoco.MjData:
    """An MjData holding env i of `state` (xyzw, world angular velocity) in MuJoCo's conventions."""
    data = mujoco.MjData(model)
    s = {k: v[i].double().numpy() for k, v in state._asdict().items()}
    quat_wxyz = np.roll(s["root_rot"], 1)
    quat_wxyz /= np.linalg.norm(quat_wxyz)
    inverse = np.zeros(4)
    mujoco.mju_negQuat(inverse, quat_wxyz)
    local_ang_vel = np.zeros(3)
    mujoco.mju_rotVecQuat(local_ang_vel, s["root_ang_vel"], inverse)
    data.qpos[:] = np.concatenate([s["root_pos"], quat_wxyz, s["dof_pos"]])
    data.qvel[:] = np.concatenate([s["root_lin_vel"], local_ang_vel, s["dof_vel"]])
    mujoco.mj_forward(model, data)
    return data


def _step(engine, actions: torch.Tensor | None = None, steps: int = 1) -> None:
    for _ in range(steps):
        if actions is not None:
            engine.set_actions(actions)
        engine.step()


def _same_quat(a: torch.Tensor, b: torch.Tensor, atol: float) -> None:
    """Equal up to the sign ambiguity of unit quaternions."""
    dot = (a * b).sum(-1, keepdim=True)
    torch.testing.assert_close(a * torch.sign(dot), b, atol=atol, rtol=0)


def test_set_state_reads_back_exactly_and_only_for_the_given_envs(make_engine):
    engine = make_engine(num_envs=4)
    untouched_pos = engine.root_pos()[[0, 2]].clone()
    ids = torch.tensor([1, 3], device=engine.device)
    state = _to(engine, _random_state(engine, 2, seed=0))
    engine.set_state(ids, state)

    torch.testing.assert_close(engine.root_pos()[ids], state.root_pos, atol=1e-6, rtol=0)
    _same_quat(engine.root_rot()[ids], state.root_rot, atol=1e-6)
    torch.testing.assert_close(engine.root_lin_vel()[ids], state.root_lin_vel, atol=1e-6, rtol=0)
    torch.testing.assert_close(engine.root_ang_vel()[ids], state.root_ang_vel, atol=1e-5, rtol=0)
    torch.testing.assert_close(engine.dof_pos()[ids], state.dof_pos, atol=1e-6, rtol=0)
    torch.testing.assert_close(engine.dof_vel()[ids], state.dof_vel, atol=1e-6, rtol=0)
    torch.testing.assert_close(engine.root_pos()[[0, 2]], untouched_pos)
    for getter in (engine.root_pos, engine.root_rot, engine.dof_vel, engine.body_lin_vel, engine.contact_forces):
        assert getter().dtype == torch.float32 and getter().device.type == engine.device.type


def test_a_pose_at_rest_replaces_the_velocities_with_zeros(make_engine):
    engine = make_engine(num_envs=2)
    ids = torch.arange(2, device=engine.device)
    moving = _to(engine, _random_state(engine, 2, seed=7))
    engine.set_state(ids, moving)
    engine.set_state(ids, CharState.at_rest(moving.root_pos, moving.root_rot, moving.dof_pos))
    torch.testing.assert_close(engine.dof_pos(), moving.dof_pos, atol=1e-6, rtol=0)
    for getter in (engine.root_lin_vel, engine.root_ang_vel, engine.dof_vel, engine.body_lin_vel, engine.body_ang_vel):
        torch.testing.assert_close(getter(), torch.zeros_like(getter()), atol=1e-6, rtol=0)


def test_masked_set_state_matches_set_state_of_the_masked_envs(make_engine):
    by_ids, by_mask = make_engine(num_envs=4), make_engine(num_envs=4)
    state = _random_state(by_ids, 4, seed=3)
    mask = torch.tensor([True, False, False, True])
    for engine in (by_ids, by_mask):  # a common moving state first, so untouched envs are not at rest
        engine.set_state(torch.arange(4, device=engine.device), _to(engine, _random_state(engine, 4, seed=4)))
        _step(engine, torch.zeros(4, engine.num_dofs, device=engine.device), steps=2)
    by_ids.set_state(torch.tensor([0, 3], device=by_ids.device), _to(by_ids, state.rows(mask)))
    by_mask.set_state_where(mask.to(by_mask.device), _to(by_mask, state))

    for getter in ("root_pos", "root_rot", "dof_pos", "dof_vel", "body_pos", "body_lin_vel", "contact_forces"):
        torch.testing.assert_close(getattr(by_mask, getter)(), getattr(by_ids, getter)(), atol=1e-6, rtol=0)
    _step(by_ids, by_ids.dof_pos())
    _step(by_mask, by_mask.dof_pos())
    torch.testing.assert_close(by_mask.body_pos(), by_ids.body_pos(), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match=r"mask: expected a \(4,\) bool tensor"):
        by_mask.set_state_where(torch.tensor([0, 3], device=by_mask.device), _to(by_mask, state))


def test_body_quantities_are_world_frame_and_match_mujoco(make_engine):
    engine = make_engine(num_envs=2)
    state = _random_state(engine, 2, seed=1)
    engine.set_state(torch.arange(2, device=engine.device), _to(engine, state))
    model = build_character(engine_mjcf(engine), control_mode=engine.control_mode).model
    data = _reference_data(model, state, 1)

    expected_vel = np.zeros((engine.num_bodies, 6))
    for b in range(engine.num_bodies):
        mujoco.mj_objectVelocity(model, data, mujoco.mjtObj.mjOBJ_XBODY, b + 1, expected_vel[b], 0)
    body_lin_vel, body_ang_vel = engine.body_lin_vel()[1].cpu(), engine.body_ang_vel()[1].cpu()
    np.testing.assert_allclose(body_lin_vel.numpy(), expected_vel[:, 3:], atol=1e-4)
    np.testing.assert_allclose(body_ang_vel.numpy(), expected_vel[:, :3], atol=1e-4)
    np.testing.assert_allclose(engine.body_pos()[1].cpu().numpy(), data.xpos[1:], atol=1e-5)
    _same_quat(engine.body_rot()[1].cpu(), torch.from_numpy(np.roll(data.xquat[1:], -1, axis=1)).float(), atol=1e-5)
    # the root body is the root
    torch.testing.assert_close(engine.body_pos()[:, 0], engine.root_pos(), atol=1e-6, rtol=0)
    torch.testing.assert_close(engine.body_lin_vel()[:, 0], engine.root_lin_vel(), atol=1e-5, rtol=0)
    torch.testing.assert_close(engine.body_ang_vel()[:, 0], engine.root_ang_vel(), atol=1e-5, rtol=0)


def test_dropped_character_lands_and_rests_on_its_feet(make_engine):
    engine = make_engine(num_envs=2)
    ids = torch.arange(2, device=engine.device)
    standing = CharState.at_rest(engine.root_pos().clone(), engine.root_rot(), engine.dof_pos())
    standing_height = standing.root_pos[0, 2].item()
    standing.root_pos[:, 2] += 1.0
    engine.set_state(ids, standing)
    hold_t_pose = torch.zeros(2, engine.num_dofs, device=engine.device)
    _step(engine, hold_t_pose, steps=round(1.2 / engine.control_dt))  # falls 1 m in 0.45 s, then settles

    weight = float(build_character(engine_mjcf(engine)).model.body_subtreemass[1]) * GRAVITY
    feet = engine.body_ids(["right_foot", "left_foot"])
    total, on_feet = [], []
    for _ in range(round(0.5 / engine.control_dt)):
        _step(engine, hold_t_pose)
        forces = engine.contact_forces()[:, :, 2].cpu()
        total.append(forces.sum(1))
        on_feet.append(forces[:, feet].sum(1))
        assert torch.all((engine.root_pos()[:, 2] - standing_height).abs() < 0.03)
        assert torch.all(engine.root_lin_vel().norm(dim=1) < 0.3)
    np.testing.assert_allclose(torch.stack(total).mean(0).numpy(), weight, rtol=0.05)
    np.testing.assert_allclose(torch.stack(on_feet).mean(0).numpy(), weight, rtol=0.05)
    assert engine.num_unstable_resets == 0


@pytest.mark.parametrize("character", ["humanoid_xml", "reference_xml"])
def test_pd_control_reaches_targets_in_free_fall(make_engine, character, request):
    """Airborne, gravity does not load the joints, so the PD servos must bring every DoF to its target.

    On MimicKit's file the hip actuators are ordered x, z, y: a wrong DoF->actuator map fails here.
    Self-collision is off so that random targets cannot be blocked by a limb in the way."""
    engine = make_engine(num_envs=2, mjcf=str(request.getfixturevalue(character)), self_collision=False)
    ids = torch.arange(2, device=engine.device)
    engine.set_state(ids, _to(engine, _random_state(engine, 2, seed=2, height=6.0, speed=0.0)))
    low, high = engine.dof_limits
    u = torch.rand(2, engine.num_dofs, generator=torch.Generator().manual_seed(3)).to(engine.device)
    targets = low + (high - low) * (0.35 + 0.3 * u)
    _step(engine, targets, steps=round(0.8 / engine.control_dt))
    assert engine.root_pos()[:, 2].min() > 2.0  # still airborne
    error = (engine.dof_pos() - targets).abs()
    assert error.max() < 0.01, f"max PD error {error.max():.3f} rad at {engine.dof_names[error.max(0).values.argmax()]}"


def _tol(engine, float64: float, float32: float) -> float:
    """The CPU engine integrates in float64 like the reference; MuJoCo Warp runs float32, whose rounding grows
    once contacts and joint limits engage (measured: 0.6 mm after a landing, 0.35 % on joint velocities)."""
    return float64 if isinstance(engine, MujocoEngine) else float32


def test_gravity_only_trajectory_matches_plain_mujoco(make_engine):
    engine = make_engine(num_envs=2, control_mode="none")
    state = _random_state(engine, 2, seed=4, height=1.2)
    engine.set_state(torch.arange(2, device=engine.device), _to(engine, state))
    model = build_character(engine_mjcf(engine), control_mode="none").model
    data = _reference_data(model, state, 1)
    # float64 engines follow the reference through the landing; a float32 engine's rounding grows chaotically once
    # a limp body hits the floor, so it is compared while still in the air
    float64 = isinstance(engine, MujocoEngine)
    num_steps = round((1.0 if float64 else 0.2) / engine.control_dt)
    _step(engine, torch.zeros(2, engine.num_dofs, device=engine.device), steps=num_steps)
    mujoco.mj_step(model, data, nstep=num_steps * engine.substeps)
    assert (data.qpos[2] < 0.5) == float64  # landed, or still in the air
    np.testing.assert_allclose(engine.root_pos()[1].cpu().numpy(), data.qpos[0:3], atol=1e-4)
    np.testing.assert_allclose(engine.dof_pos()[1].cpu().numpy(), data.qpos[7:], atol=1e-4)
    np.testing.assert_allclose(engine.dof_vel()[1].cpu().numpy(), data.qvel[6:], atol=1e-3)


@pytest.mark.parametrize("character", ["humanoid_xml", "reference_xml"])
def test_torque_mode_applies_clamped_torques_in_dof_order(make_engine, character, request):
    """Matches plain MuJoCo driven by generalized forces (no actuators) clamped at the torque limits."""
    mjcf = str(request.getfixturevalue(character))
    engine = make_engine(num_envs=2, control_mode="torque", mjcf=mjcf)
    state = _random_state(engine, 2, seed=5, height=4.0, speed=0.0)
    engine.set_state(torch.arange(2, device=engine.device), _to(engine, state))
    limits = engine.torque_limits
    scale = torch.linspace(-1.5, 1.5, engine.num_dofs, device=engine.device)  # the ends exceed the limits
    torques = (scale * limits).expand(2, -1).contiguous()
    num_steps = 5
    _step(engine, torques, steps=num_steps)

    model = build_character(mjcf, control_mode="none").model
    data = _reference_data(model, state, 0)
    clamped = torch.clamp(torques[0], -limits, limits).cpu().double().numpy()
    data.qfrc_applied[6:] = clamped
    mujoco.mj_step(model, data, nstep=num_steps * engine.substeps)
    np.testing.assert_allclose(
        engine.dof_vel()[0].cpu().numpy(), data.qvel[6:], atol=1e-3, rtol=_tol(engine, 1e-4, 1e-2)
    )
    np.testing.assert_allclose(engine.dof_pos()[0].cpu().numpy(), data.qpos[7:], atol=_tol(engine, 1e-5, 1e-3))


def test_unstable_envs_are_detected_reset_and_counted(make_engine):
    engine = make_engine(num_envs=3)
    default_root = engine.root_pos()[0].clone()
    ids = torch.arange(3, device=engine.device)
    state = _to(engine, _random_state(engine, 3, seed=6, height=1.0, speed=0.1))
    state.dof_vel[1] = 1e9  # exploding
    state.dof_pos[2, 0] = float("nan")
    engine.set_state(ids, state)
    _step(engine, torch.zeros(3, engine.num_dofs, device=engine.device))

    assert engine.pop_unstable_mask().tolist() == [False, True, True]
    assert not engine.pop_unstable_mask().any()
    assert engine.num_unstable_resets == 2
    for getter in (engine.root_pos, engine.dof_pos, engine.dof_vel, engine.body_pos, engine.contact_forces):
        assert torch.isfinite(getter()).all()
    torch.testing.assert_close(engine.root_pos()[1], default_root)
    torch.testing.assert_close(engine.dof_vel()[1:], torch.zeros_like(engine.dof_vel()[1:]))
    assert engine.root_pos()[0, 2] < 1.0  # env 0 kept falling undisturbed
    _step(engine, torch.zeros(3, engine.num_dofs, device=engine.device))
    assert not engine.pop_unstable_mask().any()


def test_bad_input_raises_clear_errors(make_engine, tmp_path, monkeypatch):
    engine = make_engine(num_envs=2)
    with pytest.raises(ValueError, match=r"actions: expected shape \(2, 28\)"):
        engine.set_actions(torch.zeros(2, 27, device=engine.device))
    one = torch.tensor([0], device=engine.device)
    good = CharState.at_rest(engine.root_pos()[:1], engine.root_rot()[:1], engine.dof_pos()[:1])
    with pytest.raises(ValueError, match="root_rot: expected shape"):
        engine.set_state(one, good._replace(root_rot=engine.root_rot()[:1, :3]))
    with pytest.raises(ValueError, match="dof_vel: expected shape"):
        engine.set_state(one, good._replace(dof_vel=engine.dof_vel()))
    with pytest.raises(ValueError, match="env_ids"):
        engine.set_state(torch.tensor([5], device=engine.device), good)
    with pytest.raises(TypeError, match="expected a CharState"):
        engine.set_state(one, tuple(good))
    with pytest.raises(KeyError, match="unknown body 'tail'"):
        engine.body_ids(["right_foot", "tail"])
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="tried"):
        make_engine(mjcf="data/assets/humanoid/missing.xml")
    with pytest.raises(ValueError, match="control_freq"):
        make_engine(sim_freq=120, control_freq=50)


def engine_mjcf(engine) -> str:
    """The character file an engine was built from (tests build the same model for reference runs)."""
    return engine.mjcf


def _crossed_thighs(engine, n: int, height: float) -> CharState:
    """The T-pose `height` m up with the thighs crossed into each other (a self contact, no floor contact)."""
    dof_pos = engine.dof_pos()[:n].clone()
    dof_pos[:, engine.dof_id("right_hip_x")] = 0.3
    dof_pos[:, engine.dof_id("left_hip_x")] = -0.3
    root_pos = engine.root_pos()[:n].clone()
    root_pos[:, 2] += height
    return CharState.at_rest(root_pos, engine.root_rot()[:n].clone(), dof_pos)


def test_floor_contact_forces_count_the_floor_and_not_self_contacts(make_engine):
    """Env 0 stands on the floor: its floor forces are its contact forces (feet only, the weight in total).
    Env 1 is airborne with its thighs pressed together: contact forces on the thighs, no floor force anywhere."""
    engine = make_engine(num_envs=2)
    engine.enable_floor_contact_forces()
    engine.enable_floor_contact_forces()  # a second call changes nothing
    standing = CharState.at_rest(engine.root_pos().clone(), engine.root_rot(), engine.dof_pos())
    crossed = _crossed_thighs(engine, 2, height=1.0)
    state = CharState(*(torch.stack([a[0], b[1]]) for a, b in zip(standing, crossed)))
    engine.set_state(torch.arange(2, device=engine.device), state)
    _step(engine, state.dof_pos, steps=10)  # 0.33 s: env 0 settles on its feet, env 1 falls 0.5 m, still airborne

    floor, total = engine.floor_contact_forces(), engine.contact_forces()
    assert floor.shape == total.shape and floor.dtype == torch.float32
    assert floor.device.type == engine.device.type
    torch.testing.assert_close(floor[0], total[0], atol=1e-2, rtol=1e-4)
    feet = engine.body_ids(["right_foot", "left_foot"])
    weight = float(engine.mj_model.body_subtreemass[1]) * GRAVITY
    assert floor[0, feet, 2].sum().item() > 0.5 * weight
    thighs = engine.body_ids(["right_thigh", "left_thigh"])
    assert (total[1, thighs].norm(dim=-1) > 1.0).all(), total[1]
    assert floor[1].abs().max().item() == 0.0
    assert engine.root_pos()[1, 2].item() > 0.5


def test_floor_contact_forces_must_be_enabled_first(make_engine):
    engine = make_engine(num_envs=1)
    with pytest.raises(RuntimeError, match="enable_floor_contact_forces"):
        engine.floor_contact_forces()


def test_cpu_floor_sensors_come_before_the_first_step_and_keep_the_state(make_engine, backend):
    if backend != "mujoco":
        pytest.skip("the CPU engine rebuilds its model for the sensors; the GPU engine reads the contact buffer")
    plain, sensed = make_engine(num_envs=2), make_engine(num_envs=2)
    state = _random_state(plain, 2, seed=5)
    for engine in (plain, sensed):
        engine.set_state(torch.arange(2), state)
    sensed.enable_floor_contact_forces()  # keeps the state it had
    for engine in (plain, sensed):
        _step(engine, state.dof_pos, steps=3)
    torch.testing.assert_close(sensed.body_pos(), plain.body_pos(), atol=0, rtol=0)  # sensors change no physics
    with pytest.raises(RuntimeError, match="before the first step"):
        plain.enable_floor_contact_forces()
