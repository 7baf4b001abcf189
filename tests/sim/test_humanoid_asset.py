"""The project's humanoid.xml must be kinematically and inertially MimicKit's, so MimicKit clips load unchanged."""
from __future__ import annotations

import mujoco
import numpy as np
import pytest



def _random_qpos(model: mujoco.MjModel, rng: np.random.Generator) -> np.ndarray:
    qpos = model.qpos0.copy()
    qpos[0:3] = rng.uniform(-2.0, 2.0, 3)
    quat = rng.normal(size=4)
    qpos[3:7] = quat / np.linalg.norm(quat)
    low, high = model.jnt_range[1:, 0], model.jnt_range[1:, 1]
    qpos[7:] = rng.uniform(low, high)
    return qpos


@pytest.fixture
def models(humanoid_xml, reference_xml):
    return mujoco.MjModel.from_xml_path(str(humanoid_xml)), mujoco.MjModel.from_xml_path(str(reference_xml))


def test_same_names_and_tree(models):
    ours, ref = models
    assert [ours.body(i).name for i in range(ours.nbody)] == [ref.body(i).name for i in range(ref.nbody)]
    assert [ours.joint(i).name for i in range(ours.njnt)] == [ref.joint(i).name for i in range(ref.njnt)]
    np.testing.assert_array_equal(ours.body_parentid, ref.body_parentid)
    assert (ours.nq, ours.nv, ours.nu) == (35, 34, 28)


def test_forward_kinematics_matches_reference_on_random_poses(models):
    ours, ref = models
    data_ours, data_ref = mujoco.MjData(ours), mujoco.MjData(ref)
    rng = np.random.default_rng(0)
    for _ in range(20):
        qpos = _random_qpos(ref, rng)
        data_ours.qpos[:], data_ref.qpos[:] = qpos, qpos
        mujoco.mj_kinematics(ours, data_ours)
        mujoco.mj_kinematics(ref, data_ref)
        np.testing.assert_allclose(data_ours.xpos, data_ref.xpos, atol=1e-6)
        np.testing.assert_allclose(data_ours.xquat, data_ref.xquat, atol=1e-6)
        np.testing.assert_allclose(data_ours.geom_xpos, data_ref.geom_xpos, atol=1e-6)


def test_masses_inertias_limits_and_gains_match(models):
    ours, ref = models
    np.testing.assert_allclose(ours.body_mass, ref.body_mass, rtol=1e-9)
    np.testing.assert_allclose(ours.body_inertia, ref.body_inertia, rtol=1e-9)
    np.testing.assert_allclose(ours.body_ipos, ref.body_ipos, atol=1e-9)
    assert ours.body_subtreemass[1] == pytest.approx(50.05, abs=0.01)
    for field in ("jnt_range", "jnt_stiffness", "dof_damping", "dof_armature", "jnt_actfrcrange", "geom_size"):
        np.testing.assert_array_equal(getattr(ours, field), getattr(ref, field), err_msg=field)
    for field in ("geom_friction", "geom_condim", "geom_solref", "geom_solimp", "jnt_solimp"):
        np.testing.assert_array_equal(getattr(ours, field), getattr(ref, field), err_msg=field)
