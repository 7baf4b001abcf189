"""The G1 in the engine: its motors become position servos with the PD gains, torque limits and armature of
conf/robot/g1.yaml (not the MJCF's), and a joint driven by them reaches its target."""
from __future__ import annotations

import importlib.util

import mujoco
import numpy as np
import pytest
import torch

from mimickit.sim.character import build_character, compute_group_gains
from mimickit.sim.engine import CharState
from mimickit.sim.registry import build_engine
from mimickit.tools import DEFAULT_HUMANOID_MJCF
from mimickit.utils.paths import resolve_path

PASSIVE = 0.5  # conf/sim/*.yaml passive_damping_frac


def make_engine(g1, pd_gains=None, num_envs=1):
    return build_engine("mujoco", mjcf=g1["mjcf"], num_envs=num_envs, device="cpu", nthread=1,
                        pd_gains=g1["pd_gains"] if pd_gains is None else pd_gains)


def test_g1_loads_from_its_package_with_29_hinges_and_a_floating_base(g1):
    assert str(resolve_path(g1["mjcf"])).endswith("unitree_g1/xmls/g1.xml")
    engine = make_engine(g1)
    assert engine.num_dofs == 29 and len(engine.body_names) == 30 and engine.body_names[0] == "pelvis"
    assert set(g1["key_bodies"]) | set(g1["contact_bodies"]) <= set(engine.body_names)
    model = engine.mj_model
    assert model.jnt_type[0] == mujoco.mjtJoint.mjJNT_FREE and model.nu == 29
    # the meshes stay visual: only the collision capsules and spheres collide
    colliding = (model.geom_contype | model.geom_conaffinity) != 0
    assert not np.any(colliding & (model.geom_type == mujoco.mjtGeom.mjGEOM_MESH))


def test_g1_pd_gains_torque_limits_and_armature_come_from_the_yaml(g1):
    engine = make_engine(g1)
    model, character = engine.mj_model, engine.character
    kp, kd, limit, armature = compute_group_gains(engine.dof_names, g1["pd_gains"])
    knee = engine.dof_names.index("left_knee_joint")
    wrist = engine.dof_names.index("right_wrist_yaw_joint")
    assert (kp[knee], limit[knee], kp[wrist], limit[wrist]) == pytest.approx((99.098427777, 139.0, 16.778327481, 5.0))
    np.testing.assert_allclose(character.kp, kp)
    np.testing.assert_allclose(character.torque_limit, limit)
    dofs = character.actuator_dof_ids  # actuator i drives DoF dofs[i]
    assert np.all(model.actuator_biastype == mujoco.mjtBias.mjBIAS_AFFINE)  # position servos
    np.testing.assert_allclose(model.actuator_gainprm[:, 0], kp[dofs])
    np.testing.assert_allclose(model.actuator_biasprm[:, 1], -kp[dofs])
    np.testing.assert_allclose(model.actuator_biasprm[:, 2], -(1 - PASSIVE) * kd[dofs])
    hinge_dofs = model.jnt_dofadr[1:]
    np.testing.assert_allclose(model.dof_damping[hinge_dofs], PASSIVE * kd)
    np.testing.assert_allclose(model.dof_armature[hinge_dofs], armature)
    np.testing.assert_allclose(model.jnt_actfrcrange[1:, 1], limit)
    np.testing.assert_allclose(model.jnt_stiffness[1:], 0.0)


def test_motors_with_their_own_gear_become_the_yaml_servos():
    """A file whose actuators are motors with a gear (MimicKit's humanoid; Menagerie's G1 likewise) is driven by the
    table's gains and torque limits, not the file's stiffness and gear."""
    table = {"all": {"joints": [".*"], "kp": 123.0, "kd": 4.0, "torque_limit": 77.0, "armature": 0.05}}
    character = build_character(DEFAULT_HUMANOID_MJCF, pd_gains=table)
    model = character.model
    np.testing.assert_allclose(model.actuator_gainprm[:, 0], 123.0)
    np.testing.assert_allclose(model.actuator_gear[:, 0], 1.0)
    np.testing.assert_allclose(model.jnt_actfrcrange[1:, 1], 77.0)
    np.testing.assert_allclose(model.dof_armature[model.jnt_dofadr[1:]], 0.05)


@pytest.mark.parametrize("groups, message", [
    ({"a": {"joints": [".*_knee_joint"], "kp": 1.0, "kd": 0.1, "torque_limit": 1.0, "armature": 0.0}}, "in none"),
    ({"a": {"joints": [".*"], "kp": 1.0, "kd": 0.1, "torque_limit": 1.0, "armature": 0.0},
      "b": {"joints": ["waist_yaw_joint"], "kp": 1.0, "kd": 0.1, "torque_limit": 1.0, "armature": 0.0}}, "in several"),
    ({"a": {"joints": [".*"], "kp": 1.0, "kd": 0.1, "armature": 0.0}}, "missing \\['torque_limit'\\]"),
    ({"a": {"joints": ["elbow"], "kp": 1.0, "kd": 0.1, "torque_limit": 1.0, "armature": 0.0}}, "match no joint"),
])
def test_a_gain_table_that_misses_or_repeats_a_joint_is_refused(g1, groups, message):
    with pytest.raises(ValueError, match=message):
        build_character(g1["mjcf"], pd_gains=groups)


def test_a_motor_only_file_without_gains_is_refused(g1):
    with pytest.raises(ValueError, match="joints without a PD gain"):
        build_character(g1["mjcf"], pd_gains=None)


def _step_response(g1, targets: dict[str, float], pd_gains=None, steps: int = 45) -> tuple[np.ndarray, list[str]]:
    """DoF angles of every control step (steps, num_dofs) from the zero pose towards `targets`, in free fall (no
    contact, no gravity load on the joints: a pure PD response), and the DoF names."""
    engine = make_engine(g1, pd_gains)
    n = engine.num_dofs
    state = CharState.at_rest(torch.tensor([[0.0, 0.0, 20.0]]), torch.tensor([[0.0, 0.0, 0.0, 1.0]]), torch.zeros(1, n))
    engine.set_state(torch.tensor([0]), state)
    action = torch.zeros(1, n)
    for name, value in targets.items():
        action[0, engine.dof_names.index(name)] = value
    trace = []
    for _ in range(steps):
        engine.set_actions(action)
        engine.step()
        trace.append(engine.dof_pos()[0].numpy().copy())
    return np.array(trace), engine.dof_names


TARGETS = {"left_knee_joint": 1.0, "right_elbow_joint": 0.8, "left_hip_pitch_joint": -0.6, "waist_yaw_joint": 0.4,
           "right_shoulder_roll_joint": -0.5}


def test_g1_joints_reach_their_pd_targets(g1):
    """The legs' kd is light for their inertia (damping ratio ~0.5 at the hip): every target is held within 0.03 rad
    after 1.5 s, the knee's within 0.5 s."""
    trace, names = _step_response(g1, TARGETS, steps=45)
    assert trace[14, names.index("left_knee_joint")] == pytest.approx(1.0, abs=0.02)
    final = trace[-1]
    for name, target in TARGETS.items():
        assert final[names.index(name)] == pytest.approx(target, abs=0.03), name
    others = [i for i, n in enumerate(names) if n not in TARGETS]
    assert np.abs(final[others]).max() < 0.05  # the rest hold zero against the moving joints


def test_lower_yaml_gains_give_a_slower_response(g1):
    """The gains that act are the YAML's: a quarter of kp reaches the knee target later."""
    soft = {group: {**values, "kp": values["kp"] / 4} for group, values in g1["pd_gains"].items()}
    stiff, names = _step_response(g1, TARGETS, steps=3)
    slow, _ = _step_response(g1, TARGETS, pd_gains=soft, steps=3)
    knee = names.index("left_knee_joint")
    assert slow[-1, knee] < 0.8 * stiff[-1, knee]


@pytest.mark.gpu
def test_mjwarp_builds_the_same_g1_model(g1):
    """sim=mjwarp converts the file exactly as the CPU engine does (one build_character), and steps it alike."""
    if importlib.util.find_spec("mujoco_warp") is None or not torch.cuda.is_available():
        pytest.skip("needs mujoco_warp and a CUDA device")
    cpu = make_engine(g1, num_envs=2)
    gpu = build_engine("mjwarp", mjcf=g1["mjcf"], num_envs=2, device="cuda", pd_gains=g1["pd_gains"])
    for field in ("actuator_gainprm", "actuator_biasprm", "dof_damping", "dof_armature", "jnt_actfrcrange"):
        np.testing.assert_array_equal(getattr(cpu.mj_model, field), getattr(gpu.mj_model, field))
    state = CharState.at_rest(torch.tensor([[0.0, 0.0, 20.0]] * 2), torch.tensor([[0.0, 0.0, 0.0, 1.0]] * 2),
                              torch.zeros(2, 29))
    action = torch.zeros(2, 29)
    for name, value in TARGETS.items():
        action[:, cpu.dof_names.index(name)] = value
    for engine in (cpu, gpu):
        engine.set_state(torch.tensor([0, 1]), CharState(*(x.to(engine.device) for x in state)))
        for _ in range(45):
            engine.set_actions(action.to(engine.device))
            engine.step()
    np.testing.assert_allclose(gpu.dof_pos().cpu().numpy(), cpu.dof_pos().numpy(), atol=2e-3)
