import os
from pathlib import Path

import mujoco
import numpy as np
import pytest
import torch

from mimickit.anim import rotations as rot
from mimickit.anim.kinematics import JointType, KinematicCharacter

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("MIMICKIT_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
PROJECT_MJCF = REPO_ROOT / "data" / "assets" / "humanoid" / "capsule_humanoid.xml"
HUMANOID_MJCF = PROJECT_MJCF if PROJECT_MJCF.is_file() else SHARED_DATA / "humanoid" / "humanoid.xml"

pytestmark = pytest.mark.skipif(not HUMANOID_MJCF.is_file(), reason="no humanoid MJCF found")

BODY_NAMES = [
    "pelvis", "torso", "head", "right_upper_arm", "right_lower_arm", "right_hand", "left_upper_arm",
    "left_lower_arm", "left_hand", "right_thigh", "right_shin", "right_foot", "left_thigh", "left_shin", "left_foot",
]


@pytest.fixture(scope="module")
def character():
    return KinematicCharacter(str(HUMANOID_MJCF))


@pytest.fixture(scope="module")
def model():
    return mujoco.MjModel.from_xml_path(str(HUMANOID_MJCF))


def _random_dof_pos(model, character, n, rng, margin=0.02):
    """Hinge angles uniformly inside the joint ranges, kept off the Euler gimbal lock (|y| = pi/2)."""
    jids = [model.joint(name).id for name in character.dof_names]
    low, high = model.jnt_range[jids, 0] + margin, model.jnt_range[jids, 1] - margin
    return rng.uniform(low, high, size=(n, len(jids)))


def _random_root(n, rng):
    root_pos = rng.normal(size=(n, 3)) + np.array([0, 0, 1.0])
    root_rot = rng.normal(size=(n, 4))
    return root_pos, root_rot / np.linalg.norm(root_rot, axis=-1, keepdims=True)


def _mujoco_bodies(model, qpos):
    """Body positions and xyzw rotations from MuJoCo's own mj_kinematics, one pose at a time."""
    data = mujoco.MjData(model)
    pos, quat = [], []
    for q in qpos:
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        pos.append(data.xpos[1:].copy())
        quat.append(data.xquat[1:, [1, 2, 3, 0]].copy())
    return np.array(pos), np.array(quat)


def _max_rot_err(a, b):
    return rot.quat_diff_angle(torch.as_tensor(a), torch.as_tensor(b)).max().item()


def test_tree_and_dof_layout(character):
    assert character.body_names == BODY_NAMES
    parents = [-1, 0, 1, 1, 3, 4, 1, 6, 7, 0, 9, 10, 0, 12, 13]
    assert character.parent_indices.tolist() == parents
    assert character.num_dofs == 28 and character.frame_dim == 34 and character.num_joints == 14
    layout = {j.body: (j.joint_type, j.dof_start, j.dof_dim) for j in character.joints}
    assert layout["torso"] == (JointType.SPHERICAL, 0, 3)
    assert layout["right_lower_arm"] == (JointType.HINGE, 9, 1)
    assert layout["right_hand"] == (JointType.FIXED, 10, 0)
    assert layout["left_foot"] == (JointType.SPHERICAL, 25, 3)
    assert character.dof_names[:4] == ["abdomen_x", "abdomen_y", "abdomen_z", "neck_x"]
    np.testing.assert_allclose(character.local_pos[BODY_NAMES.index("right_shin")].numpy(), [0, 0, -0.421546])


def test_forward_kinematics_matches_mujoco(model, character):
    rng = np.random.default_rng(0)
    n = 200
    dof_pos = _random_dof_pos(model, character, n, rng)
    root_pos, root_rot = _random_root(n, rng)
    qpos = np.zeros((n, model.nq))
    qpos[:, 0:3], qpos[:, 3:7] = root_pos, root_rot[:, [3, 0, 1, 2]]
    qpos[:, character.dof_qpos_adr.numpy()] = dof_pos
    ref_pos, ref_rot = _mujoco_bodies(model, qpos)

    f = lambda x: torch.tensor(x, dtype=torch.float32)
    body_pos, body_rot = character.forward_kinematics_dof(f(root_pos), f(root_rot), f(dof_pos))
    assert body_pos.shape == (n, 15, 3) and body_rot.shape == (n, 15, 4)
    assert np.abs(body_pos.numpy() - ref_pos).max() < 1e-5
    assert _max_rot_err(body_rot.double(), ref_rot) < 1e-5


def test_dof_joint_rot_round_trip_inside_ranges(model, character):
    rng = np.random.default_rng(1)
    dof_pos = torch.tensor(_random_dof_pos(model, character, 500, rng), dtype=torch.float64)
    joint_rot = character.dof_to_joint_rot(dof_pos)
    assert joint_rot.shape == (500, 14, 4)
    torch.testing.assert_close(character.joint_rot_to_dof(joint_rot), dof_pos, atol=1e-9, rtol=0)
    # fixed bodies (the hands) carry the identity
    torch.testing.assert_close(joint_rot[:, character.body_id("right_hand") - 1], rot.quat_identity((500,), dtype=torch.float64))


def test_frame_dof_pos_round_trip_and_fk_agree(model, character):
    rng = np.random.default_rng(2)
    n = 100
    dof_pos = torch.tensor(_random_dof_pos(model, character, n, rng), dtype=torch.float64)
    root_pos, root_rot = (torch.tensor(x) for x in _random_root(n, rng))
    frames = character.dof_pos_to_frame(root_pos, root_rot, dof_pos)
    assert frames.shape == (n, 34)
    # hinge columns are the angles themselves; 3-hinge bodies became exp maps
    torch.testing.assert_close(frames[:, 6 + 9], dof_pos[:, 9])
    torch.testing.assert_close(character.frame_to_dof_pos(frames), dof_pos, atol=1e-9, rtol=0)

    pos_from_frame, rot_from_frame = character.forward_kinematics(
        *character.frame_to_root(frames), character.frame_dofs_to_joint_rot(frames[:, 6:])
    )
    pos_from_dofs, rot_from_dofs = character.forward_kinematics_dof(root_pos, root_rot, dof_pos)
    torch.testing.assert_close(pos_from_frame, pos_from_dofs, atol=1e-9, rtol=0)
    assert _max_rot_err(rot_from_frame, rot_from_dofs) < 1e-7


def test_qpos_mapping_drives_mujoco_to_the_frame_pose(model, character):
    rng = np.random.default_rng(3)
    n = 50
    dof_pos = torch.tensor(_random_dof_pos(model, character, n, rng), dtype=torch.float64)
    root_pos, root_rot = (torch.tensor(x) for x in _random_root(n, rng))
    frames = character.dof_pos_to_frame(root_pos, root_rot, dof_pos)
    qpos = character.frame_to_qpos(frames)
    assert qpos.shape == (n, model.nq)
    ref_pos, _ = _mujoco_bodies(model, qpos.numpy())
    joint_rot = character.frame_dofs_to_joint_rot(frames[:, 6:])
    body_pos, _ = character.forward_kinematics(*character.frame_to_root(frames), joint_rot)
    assert np.abs(body_pos.numpy() - ref_pos).max() < 1e-6
    torch.testing.assert_close(character.qpos_to_frame(qpos)[:, 6:], frames[:, 6:], atol=1e-9, rtol=0)


def test_joint_rot_to_frame_dofs_inverts_frame_dofs_to_joint_rot(character):
    frame_dofs = torch.randn(64, 28, dtype=torch.float64) * 0.5
    joint_rot = character.frame_dofs_to_joint_rot(frame_dofs)
    torch.testing.assert_close(character.joint_rot_to_frame_dofs(joint_rot), frame_dofs, atol=1e-9, rtol=0)


def test_bad_shapes_are_reported(character):
    with pytest.raises(ValueError, match=r"joint_rot must have shape \(\.\.\., 14, 4\)"):
        character.forward_kinematics(torch.zeros(3), rot.quat_identity(()), torch.zeros(13, 4))
    with pytest.raises(ValueError, match=r"dof_pos must have shape \(\.\.\., 28\)"):
        character.dof_to_joint_rot(torch.zeros(2, 27))
    with pytest.raises(ValueError, match=r"frames must have shape \(\.\.\., 34\)"):
        character.frame_to_dof_pos(torch.zeros(2, 37))
    with pytest.raises(KeyError, match="unknown body 'tail'"):
        character.body_id("tail")


def _mjcf(tmp_path, body_xml):
    path = tmp_path / "char.xml"
    path.write_text(
        f"""<mujoco><worldbody><body name="root"><freejoint/><geom size=".1"/>
        <body name="limb" pos="0 0 1"><geom size=".1"/>{body_xml}</body></body></worldbody></mujoco>"""
    )
    return str(path)


@pytest.mark.parametrize(
    "joints, message",
    [
        ('<joint type="hinge" axis="1 0 0"/><joint type="hinge" axis="0 1 0"/>', "2 hinges"),
        ('<joint type="hinge" axis="0 0 1"/><joint type="hinge" axis="0 1 0"/><joint type="hinge" axis="1 0 0"/>', "axes x, y, z"),
        ('<joint type="ball"/>', "only hinges are supported"),
        ('<joint type="hinge" axis="1 0 0" pos="0 0 0.1"/>', "offset from the body origin"),
        ('<joint type="hinge" axis="1 0 0" ref="0.3"/>', "nonzero reference angle"),
    ],
)
def test_unsupported_joints_are_reported(tmp_path, joints, message):
    with pytest.raises(ValueError, match=message):
        KinematicCharacter(_mjcf(tmp_path, joints))


def test_tilted_hinge_axis_and_missing_file(tmp_path):
    character = KinematicCharacter(_mjcf(tmp_path, '<joint type="hinge" axis="0 1 1"/>'))
    assert character.num_dofs == 1 and character.joints[0].joint_type == JointType.HINGE
    angle = torch.tensor([[0.7]])
    torch.testing.assert_close(character.joint_rot_to_dof(character.dof_to_joint_rot(angle)), angle)
    with pytest.raises(FileNotFoundError, match="character MJCF .* not found"):
        KinematicCharacter(str(tmp_path / "missing.xml"))


def test_joint_rot_to_dof_near_follows_a_trajectory_through_the_gimbal_lock(character):
    """A hip swinging past y = -pi/2: the principal Euler branch jumps there, the `near` solution does not."""
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    dof_pos = torch.zeros(101, 28, dtype=torch.float64)
    hip = slice(14, 17)
    dof_pos[:, hip] = torch.stack([0.3 * t - 0.5, -0.5 - 1.8 * t, 0.4 * t], dim=-1)
    joint_rot = character.dof_to_joint_rot(dof_pos)
    followed = [dof_pos[0]]
    for k in range(1, 101):
        followed.append(character.joint_rot_to_dof(joint_rot[k], near=followed[-1]))
    torch.testing.assert_close(torch.stack(followed), dof_pos, atol=1e-9, rtol=0)
    # frame by frame (in range) also recovers it: the hip y range reaches -2.44
    torch.testing.assert_close(character.joint_rot_to_dof(joint_rot), dof_pos, atol=1e-9, rtol=0)


def test_dof_vel_from_rotations_matches_the_angle_rates(model, character):
    rng = np.random.default_rng(4)
    dof_pos = torch.tensor(_random_dof_pos(model, character, 64, rng, margin=0.2), dtype=torch.float64)
    rates = torch.randn(64, 28, dtype=torch.float64)
    h = 1e-4  # rotations below ~1e-8 rad lose their axis in quat_to_exp_map
    prev = character.dof_to_joint_rot(dof_pos - h * rates)
    nxt = character.dof_to_joint_rot(dof_pos + h * rates)
    dof_vel = character.joint_rot_to_dof_vel(prev, nxt, torch.full((64,), 2 * h, dtype=torch.float64), dof_pos)
    torch.testing.assert_close(dof_vel, rates, atol=1e-6, rtol=1e-5)

