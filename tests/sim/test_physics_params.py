"""Per-world physical parameters (`Engine.set_physics_where`, the engine side of domain randomisation) on both
backends: the file's values step bit-identically to a plain engine, each parameter changes the masked worlds' motion
and only theirs, and the physics follows (a heavier character presses harder on the floor, a slipperier one slides
farther). The mjwarp cases skip without mujoco_warp and a CUDA device (conftest.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mimickit.sim.engine import CharState, PhysicsParams
from mimickit.sim.mujoco_engine import MujocoEngine
from mimickit.sim.physics_params import compute_subtree_mass

GRAVITY = 9.81
FIELDS = PhysicsParams._fields
CHANGED = {"friction_scale": 0.2, "mass_scale": 1.5, "com_offset": 0.05, "kp_scale": 0.5, "kd_scale": 2.0,
           "torque_limit_scale": 0.3}


def _params(engine, **values: float) -> PhysicsParams:
    """Every parameter at the file's value (scale 1, offset 0), those given set to `values` for every world."""
    n, b, d = engine.num_envs, engine.num_bodies, engine.num_dofs
    shapes = {"friction_scale": (n,), "mass_scale": (n, b), "com_offset": (n, b, 3), "kp_scale": (n, d),
              "kd_scale": (n, d), "torque_limit_scale": (n, d)}
    value = lambda name: values.get(name, 0.0 if name == "com_offset" else 1.0)  # noqa: E731
    return PhysicsParams(**{k: torch.full(s, value(k), device=engine.device) for k, s in shapes.items()})


def _mask(engine, *ids: int) -> torch.Tensor:
    mask = torch.zeros(engine.num_envs, dtype=torch.bool, device=engine.device)
    mask[list(ids)] = True
    return mask


def _rollout(engine, steps: int = 12, seed: int = 0) -> torch.Tensor:
    """Body positions over `steps` control steps from the standing pose, under random PD targets near it."""
    gen = torch.Generator().manual_seed(seed)
    positions = []
    for _ in range(steps):
        targets = 0.4 * torch.randn(engine.num_envs, engine.num_dofs, generator=gen)
        low, high = (x.cpu() for x in engine.dof_limits)
        engine.set_actions(targets.clamp(low, high).to(engine.device))
        engine.step()
        positions.append(engine.body_pos().cpu())
    return torch.stack(positions)


def _assert_same(engine, a: torch.Tensor, b: torch.Tensor) -> None:
    """Bit-identical on the CPU engine; MuJoCo Warp is compared to float32 rounding (its contact pool is shared by
    all worlds, and run-to-run bit-identity is not promised)."""
    if isinstance(engine, MujocoEngine):
        assert torch.equal(a, b)
    else:
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


def test_the_files_values_step_bit_identically_to_a_plain_engine(make_engine):
    plain = _rollout(make_engine(num_envs=2))
    engine = make_engine(num_envs=2)
    engine.set_physics_where(_mask(engine, 0, 1), _params(engine))
    _assert_same(engine, _rollout(engine), plain)


@pytest.mark.parametrize("name", FIELDS)
def test_each_parameter_changes_the_masked_worlds_and_only_them(make_engine, name):
    plain = _rollout(make_engine(num_envs=2))
    engine = make_engine(num_envs=2)
    engine.set_physics_where(_mask(engine, 0), _params(engine, **{name: CHANGED[name]}))
    moved = _rollout(engine)
    assert (moved[:, 0] - plain[:, 0]).abs().max() > 1e-3  # a different motion ...
    _assert_same(engine, moved[:, 1], plain[:, 1])  # ... of world 0 alone


def test_a_heavier_character_presses_harder_on_the_floor(make_engine):
    engine = make_engine(num_envs=2)
    engine.set_physics_where(_mask(engine, 0), _params(engine, mass_scale=1.3))
    hold = torch.zeros(2, engine.num_dofs, device=engine.device)
    for _ in range(round(0.4 / engine.control_dt)):  # settles on its feet
        engine.set_actions(hold)
        engine.step()
    totals = []
    for _ in range(round(0.3 / engine.control_dt)):
        engine.set_actions(hold)
        engine.step()
        totals.append(engine.contact_forces()[:, :, 2].sum(1).cpu())
    heavy, nominal = torch.stack(totals).mean(0).tolist()
    weight = float(engine.mj_model.body_subtreemass[1]) * GRAVITY
    assert nominal == pytest.approx(weight, rel=0.05)
    assert heavy == pytest.approx(1.3 * weight, rel=0.05)


def test_a_slipperier_character_slides_farther(make_engine):
    """Standing, pushed along x at 1 m/s: the feet's friction stops them within centimetres (the body tips over
    them), unless it is low (floor and feet alike: a contact takes the larger friction of its two geoms). Measured
    on the CPU engine after 0.3 s: 0.03 m at friction 1, 0.13 m at 0.1."""
    engine = make_engine(num_envs=2)
    engine.set_physics_where(_mask(engine, 0), _params(engine, friction_scale=0.1))
    feet = engine.body_ids(["right_foot", "left_foot"])
    start = engine.body_pos()[:, feet, 0].clone()
    state = CharState.at_rest(engine.root_pos().clone(), engine.root_rot(), engine.dof_pos())
    state = state._replace(root_lin_vel=torch.tensor([[1.0, 0.0, 0.0]] * 2, device=engine.device))
    engine.set_state_where(_mask(engine, 0, 1), state)
    hold = torch.zeros(2, engine.num_dofs, device=engine.device)
    for _ in range(round(0.3 / engine.control_dt)):
        engine.set_actions(hold)
        engine.step()
    slipping, gripping = (engine.body_pos()[:, feet, 0] - start).mean(1).tolist()
    assert slipping > 0.09 and gripping < 0.05, (slipping, gripping)


def test_cpu_model_rows_hold_the_scaled_values_and_derived_masses(make_engine):
    """White-box check of the CPU engine's per-world arrays: world 1 changed, world 0 at the file's values; the
    subtree masses MuJoCo derives (set_const) follow the new masses, summed as this project sums them."""
    engine = make_engine(num_envs=2)
    if not isinstance(engine, MujocoEngine):
        pytest.skip("reads the CPU engine's Batch arrays")
    model, batch = engine.mj_model, engine._batch
    gen = torch.Generator().manual_seed(0)
    params = PhysicsParams(*(1.0 + 0.2 * torch.rand(p.shape, generator=gen) for p in _params(engine)))
    engine.set_physics_where(_mask(engine, 1), params)
    rows = {name: batch.expanded(name) for name in ("geom_friction", "body_mass", "body_inertia", "body_ipos",
                                                      "actuator_gainprm", "actuator_biasprm", "dof_damping",
                                                      "jnt_actfrcrange", "body_subtreemass")}
    for name, values in rows.items():
        np.testing.assert_array_equal(values[0], getattr(model, name), err_msg=name)
    p = PhysicsParams(*(x[1].double().numpy() for x in params))
    np.testing.assert_allclose(rows["geom_friction"][1, :, 0], model.geom_friction[:, 0] * p.friction_scale)
    np.testing.assert_allclose(rows["body_mass"][1, 1:], model.body_mass[1:] * p.mass_scale)
    np.testing.assert_allclose(rows["body_inertia"][1, 1:], model.body_inertia[1:] * p.mass_scale[:, None])
    np.testing.assert_allclose(rows["body_ipos"][1, 1:], model.body_ipos[1:] + p.com_offset)
    actuated = engine.character.actuator_dof_ids
    np.testing.assert_allclose(rows["actuator_gainprm"][1, :, 0], model.actuator_gainprm[:, 0] * p.kp_scale[actuated])
    np.testing.assert_allclose(rows["actuator_biasprm"][1, :, 1], model.actuator_biasprm[:, 1] * p.kp_scale[actuated])
    np.testing.assert_allclose(rows["actuator_biasprm"][1, :, 2], model.actuator_biasprm[:, 2] * p.kd_scale[actuated])
    np.testing.assert_allclose(rows["dof_damping"][1, 6:], model.dof_damping[6:] * p.kd_scale)
    np.testing.assert_allclose(rows["jnt_actfrcrange"][1, 1:], model.jnt_actfrcrange[1:] * p.torque_limit_scale[:, None])
    ours = compute_subtree_mass(torch.tensor(rows["body_mass"]), tuple(model.body_parentid)).numpy()
    np.testing.assert_array_equal(rows["body_subtreemass"], ours)


def test_bad_parameters_raise_clear_errors(make_engine):
    engine = make_engine(num_envs=2)
    with pytest.raises(ValueError, match=r"mass_scale: expected shape \(2, 15\)"):
        engine.set_physics_where(_mask(engine, 0), PhysicsParams(mass_scale=torch.ones(2, 3)))
    torque = make_engine(num_envs=2, control_mode="torque")
    with pytest.raises(ValueError, match="kp_scale and kd_scale scale PD servos"):
        torque.set_physics_where(_mask(torque, 0), _params(torque))


def test_gpu_fields_become_per_world_before_the_first_step_only(make_engine):
    engine = make_engine(num_envs=2)
    engine.step()
    if isinstance(engine, MujocoEngine):
        engine.set_physics_where(_mask(engine, 0), _params(engine, mass_scale=1.1))  # Batch expands at any time
        return
    with pytest.raises(RuntimeError, match="before the first step"):
        engine.set_physics_where(_mask(engine, 0), _params(engine, mass_scale=1.1))
