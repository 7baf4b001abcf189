"""Building the simulation model from a character MJCF (backend-neutral)."""
from __future__ import annotations

import mujoco
import numpy as np
import pytest

from mimickit.sim.character import FLOOR_GEOM, build_character, resolve_asset_path
from mimickit.sim.engine import ControlMode

HIP_PERMUTATION = {14: 14, 15: 16, 16: 15, 21: 21, 22: 23, 23: 22}  # MimicKit lists hip motors x, z, y


def test_reads_gains_limits_and_names(humanoid_xml):
    char = build_character(humanoid_xml)
    assert char.num_dofs == 28 and len(char.body_names) == 15
    assert char.body_names[0] == "pelvis" and char.body_names[-1] == "left_foot"
    assert char.dof_names[:3] == ["abdomen_x", "abdomen_y", "abdomen_z"]
    knee = char.dof_names.index("right_knee")
    assert (char.kp[knee], char.kd[knee], char.torque_limit[knee]) == (500.0, 50.0, 150.0)
    assert (char.dof_low[knee], char.dof_high[knee]) == (0.0, 2.7925)


def test_pos_mode_builds_position_servos_from_the_gains(humanoid_xml):
    char = build_character(humanoid_xml, sim_freq=240, control_mode="pos", passive_damping_frac=0.2)
    m = char.model
    dofs = char.actuator_dof_ids
    np.testing.assert_array_equal(m.actuator_gainprm[:, 0], char.kp[dofs])
    np.testing.assert_array_equal(m.actuator_biasprm[:, 1], -char.kp[dofs])
    np.testing.assert_allclose(m.actuator_biasprm[:, 2], -0.8 * char.kd[dofs])
    np.testing.assert_allclose(m.dof_damping[6:], 0.2 * char.kd)
    np.testing.assert_array_equal(m.jnt_stiffness, 0.0)
    np.testing.assert_array_equal(m.actuator_gear[:, 0], 1.0)
    np.testing.assert_array_equal(m.actuator_ctrlrange, np.stack([char.dof_low, char.dof_high], 1)[dofs])
    np.testing.assert_array_equal(m.jnt_actfrcrange[1:, 1], char.torque_limit)
    assert m.opt.integrator == mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    assert m.opt.timestep == pytest.approx(1 / 240)
    assert m.geom(FLOOR_GEOM).condim == 3
    assert m.nsensor == 1 and m.sensor_type[0] == mujoco.mjtSensor.mjSENS_ACCELEROMETER


def test_torque_mode_builds_clamped_motors(humanoid_xml):
    char = build_character(humanoid_xml, control_mode="torque")
    m = char.model
    assert char.control_mode == ControlMode.TORQUE
    np.testing.assert_array_equal(m.actuator_biastype, mujoco.mjtBias.mjBIAS_NONE)
    np.testing.assert_array_equal(m.actuator_gainprm[:, 0], 1.0)
    np.testing.assert_array_equal(m.actuator_ctrlrange[:, 1], char.torque_limit[char.actuator_dof_ids])
    np.testing.assert_array_equal(m.dof_damping, 0.0)


def test_none_mode_has_no_actuators(humanoid_xml):
    char = build_character(humanoid_xml, control_mode="none")
    assert char.model.nu == 0 and char.actuator_dof_ids.shape == (0,)


def test_actuator_to_dof_map_follows_the_file(humanoid_xml, reference_xml):
    np.testing.assert_array_equal(build_character(humanoid_xml).actuator_dof_ids, np.arange(28))
    ref = build_character(reference_xml)
    expected = np.arange(28)
    for actuator, dof in HIP_PERMUTATION.items():
        expected[actuator] = dof
    np.testing.assert_array_equal(ref.actuator_dof_ids, expected)
    np.testing.assert_array_equal(ref.torque_limit, build_character(humanoid_xml).torque_limit)


def test_self_collision_off_keeps_floor_contacts(humanoid_xml):
    m = build_character(humanoid_xml, self_collision=False).model
    body = np.flatnonzero(m.geom_bodyid > 0)
    floor = m.geom(FLOOR_GEOM).id
    pairs_collide = (m.geom_contype[body, None] & m.geom_conaffinity[None, body]) | (
        m.geom_contype[None, body] & m.geom_conaffinity[body, None]
    )
    assert not pairs_collide.any()
    with_floor = (m.geom_contype[body] & m.geom_conaffinity[floor]) | (m.geom_contype[floor] & m.geom_conaffinity[body])
    assert np.all(with_floor)
    m_on = build_character(humanoid_xml, self_collision=True).model
    assert m_on.geom_contype[body[0]] & m_on.geom_conaffinity[body[1]]


def test_default_pose_stands_just_above_the_floor(humanoid_xml):
    char = build_character(humanoid_xml)
    data = mujoco.MjData(char.model)
    data.qpos[:] = char.default_qpos
    mujoco.mj_forward(char.model, data)
    assert data.ncon == 0
    data.qpos[2] -= 0.011  # 1 cm clearance: a little lower and the feet touch
    mujoco.mj_forward(char.model, data)
    assert data.ncon > 0


def test_resolves_paths_relative_to_the_repository(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert resolve_asset_path("data/assets/humanoid/capsule_humanoid.xml").is_file()


def test_missing_file_lists_the_paths_tried(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="tried: .*no_such.xml"):
        build_character("no_such.xml")


def test_parse_and_topology_errors_name_the_problem(tmp_path):
    broken = tmp_path / "broken.xml"
    broken.write_text("<mujoco><worldbody><body></mujoco>")
    with pytest.raises(ValueError, match="cannot parse character file .*broken.xml"):
        build_character(broken)
    no_root = tmp_path / "no_root.xml"
    no_root.write_text('<mujoco><worldbody><body><joint type="hinge"/><geom size="0.1"/></body></worldbody></mujoco>')
    with pytest.raises(ValueError, match="free root joint"):
        build_character(no_root)
    ball = tmp_path / "ball.xml"
    ball.write_text(
        '<mujoco><worldbody><body><freejoint/><geom size="0.1"/>'
        '<body><joint name="shoulder" type="ball"/><geom size="0.1"/></body></body></worldbody></mujoco>'
    )
    with pytest.raises(ValueError, match="shoulder"):
        build_character(ball)
    with pytest.raises(ValueError, match="passive_damping_frac"):
        build_character(tmp_path / "ball.xml", passive_damping_frac=1.5)
