"""The DeepMimic observation and reward terms are pure functions: test them on synthetic states."""
import math

import pytest
import torch

from mimickit.anim import rotations as rot
from mimickit.anim.motion_lib import MotionFrame
from mimickit.envs import rewards
from mimickit.envs.char_env import compute_fall
from mimickit.envs.observations import compute_char_obs, compute_phase_obs, compute_target_obs

N, B = 8, 5


def random_state(gen):
    root_pos = torch.randn(N, 3, generator=gen)
    root_rot = rot.quat_normalize(torch.randn(N, 4, generator=gen))
    body_pos = root_pos.unsqueeze(1) + torch.randn(N, B, 3, generator=gen)
    body_pos[:, 0] = root_pos
    body_rot = rot.quat_normalize(torch.randn(N, B, 4, generator=gen))
    body_rot[:, 0] = root_rot
    lin_vel = torch.randn(N, B, 3, generator=gen)
    ang_vel = torch.randn(N, B, 3, generator=gen)
    return root_pos, root_rot, body_pos, body_rot, lin_vel, ang_vel


def yaw_world(state, angle, shift):
    """Turn the whole scene about the world z axis and move it horizontally."""
    q = rot.quat_from_axis_angle(torch.tensor([0.0, 0.0, 1.0]), torch.tensor(angle)).expand(N, 4)
    qb = q.unsqueeze(1).expand(N, B, 4)
    root_pos, root_rot, body_pos, body_rot, lin_vel, ang_vel = state
    return (
        rot.quat_rotate(q, root_pos) + shift,
        rot.quat_mul(q, root_rot),
        rot.quat_rotate(qb, body_pos) + shift,
        rot.quat_mul(qb, body_rot),
        rot.quat_rotate(qb, lin_vel),
        rot.quat_rotate(qb, ang_vel),
    )


def test_char_obs_is_invariant_to_heading_and_horizontal_position():
    gen = torch.Generator().manual_seed(0)
    state = random_state(gen)
    moved = yaw_world(state, 1.3, torch.tensor([2.0, -3.0, 0.0]))
    obs, obs_moved = compute_char_obs(*state), compute_char_obs(*moved)
    assert obs.shape == (N, 1 + 3 * (B - 1) + 6 * B + 3 * B + 3 * B)
    torch.testing.assert_close(obs, obs_moved, atol=1e-5, rtol=1e-5)
    # ...but not to a change of height or of the pose
    lifted = (state[0] + torch.tensor([0, 0, 0.5]),) + state[1:]
    assert not torch.allclose(compute_char_obs(*lifted), obs)


def test_target_obs_is_relative_to_the_character():
    gen = torch.Generator().manual_seed(1)
    root_pos, root_rot, body_pos, body_rot, _, _ = random_state(gen)
    ref_pos, ref_rot = body_pos.unsqueeze(1).repeat(1, 3, 1, 1), body_rot.unsqueeze(1).repeat(1, 3, 1, 1)
    obs = compute_target_obs(root_pos, root_rot, ref_pos, ref_rot)
    assert obs.shape == (N, 3 * B * 9)
    shift = torch.tensor([1.0, 2.0, 0.0])
    obs_shifted = compute_target_obs(root_pos + shift, root_rot, ref_pos + shift, ref_rot)
    torch.testing.assert_close(obs, obs_shifted, atol=1e-5, rtol=1e-5)


def test_phase_obs_is_periodic():
    phase = torch.tensor([0.0, 0.25, 1.0])
    enc = compute_phase_obs(phase)
    torch.testing.assert_close(enc[0], enc[2], atol=1e-6, rtol=0)
    torch.testing.assert_close(enc[1], torch.tensor([1.0, 0.0]), atol=1e-6, rtol=0)


def test_rewards_are_one_at_the_reference_and_fall_with_error():
    gen = torch.Generator().manual_seed(2)
    root_pos, root_rot, body_pos, body_rot, lin_vel, ang_vel = random_state(gen)
    parents = torch.tensor([-1, 0, 1, 0, 3])
    joint_rot = rewards.compute_joint_rot(body_rot, parents)
    assert joint_rot.shape == (N, B - 1, 4)
    one = torch.ones(N)
    torch.testing.assert_close(rewards.joint_rot_err_exp(joint_rot, joint_rot, 2.0), one)
    torch.testing.assert_close(rewards.root_pose_err_exp(root_pos, root_rot, root_pos, root_rot, 5.0), one)
    torch.testing.assert_close(rewards.key_body_pos_err_exp(body_pos, root_pos, body_pos, root_pos, 10.0), one)

    # Rotating one joint by a known angle gives exactly exp(-scale * angle^2).
    angle = 0.3
    twist = rot.quat_from_axis_angle(torch.tensor([0.0, 1.0, 0.0]), torch.tensor(angle)).expand(N, 4)
    bent = body_rot.clone()
    bent[:, 2] = rot.quat_mul(bent[:, 2], twist)
    bent[:, 4] = rot.quat_mul(bent[:, 4], twist)
    r = rewards.joint_rot_err_exp(rewards.compute_joint_rot(bent, parents), joint_rot, 2.0)
    torch.testing.assert_close(r, torch.full((N,), math.exp(-2.0 * 2 * angle**2)), atol=1e-5, rtol=1e-5)

    small = rewards.dof_vel_err_exp(torch.zeros(N, 4), torch.full((N, 4), 0.1), 1.0)
    large = rewards.dof_vel_err_exp(torch.zeros(N, 4), torch.full((N, 4), 1.0), 1.0)
    assert (small > large).all() and (large > 0).all()
    v_err = rewards.root_vel_err_exp(lin_vel[:, 0], ang_vel[:, 0], lin_vel[:, 0] + 0.5, ang_vel[:, 0], 1.0)
    torch.testing.assert_close(v_err, torch.full((N,), math.exp(-0.75)), atol=1e-6, rtol=1e-6)


def random_frame(gen, num_dofs=6):
    root_pos, root_rot, body_pos, body_rot, lin_vel, ang_vel = random_state(gen)
    return MotionFrame(
        root_pos=root_pos, root_rot=root_rot, root_lin_vel=lin_vel[:, 0], root_ang_vel=ang_vel[:, 0],
        dof_pos=torch.randn(N, num_dofs, generator=gen), dof_vel=torch.randn(N, num_dofs, generator=gen),
        body_pos=body_pos, body_rot=body_rot,
    )


BODIES = rewards.TrackedBodies(parents=torch.tensor([-1, 0, 1, 0, 3]), key_body_ids=torch.tensor([2, 4]))
TABLE = {
    "pose": {"weight": 0.5, "scale": 0.25},
    "vel": {"weight": 0.1, "scale": 0.01},
    "root_pose": {"weight": 0.15, "scale": 5.0},
    "root_vel": {"weight": 0.1, "scale": 1.0},
    "key_pos": {"weight": 0.15, "scale": 10.0},
}


def test_reward_total_is_the_weighted_sum_of_the_table_in_its_order():
    gen = torch.Generator().manual_seed(3)
    sim, ref = random_frame(gen), random_frame(gen)
    table = rewards.reward_table(TABLE, rewards.IMITATION_TERMS)
    terms = rewards.compute_reward_terms(sim, ref, table, BODIES)
    assert list(terms) == list(TABLE)
    joint_rot = rewards.compute_joint_rot
    by_hand = {
        "pose": rewards.joint_rot_err_exp(
            joint_rot(sim.body_rot, BODIES.parents), joint_rot(ref.body_rot, BODIES.parents), 0.25
        ),
        "vel": rewards.dof_vel_err_exp(sim.dof_vel, ref.dof_vel, 0.01),
        "root_pose": rewards.root_pose_err_exp(sim.root_pos, sim.root_rot, ref.root_pos, ref.root_rot, 5.0),
        "root_vel": rewards.root_vel_err_exp(
            sim.root_lin_vel, sim.root_ang_vel, ref.root_lin_vel, ref.root_ang_vel, 1.0
        ),
        "key_pos": rewards.key_body_pos_err_exp(
            sim.body_pos[:, [2, 4]], sim.root_pos, ref.body_pos[:, [2, 4]], ref.root_pos, 10.0
        ),
    }
    for name, value in by_hand.items():
        assert torch.equal(terms[name], value), name
    total = rewards.compute_weighted_sum(terms, table, like=sim.root_pos[:, 0])
    expected = (0.5 * by_hand["pose"] + 0.1 * by_hand["vel"] + 0.15 * by_hand["root_pose"] + 0.1 * by_hand["root_vel"]
                + 0.15 * by_hand["key_pos"])
    assert torch.equal(total, expected)  # same terms, same order of additions: bit for bit
    assert ((0 < total) & (total <= 1.0 + 1e-6)).all()


def test_a_term_of_weight_zero_or_null_is_not_computed(monkeypatch):
    def not_to_be_called(*args):
        raise AssertionError("a term of weight 0 or null was computed")

    monkeypatch.setitem(rewards.IMITATION_TERMS, "vel", not_to_be_called)
    monkeypatch.setitem(rewards.IMITATION_TERMS, "root_vel", not_to_be_called)
    table = rewards.reward_table(
        {**TABLE, "vel": {"weight": 0.0, "scale": 0.01}, "root_vel": {"weight": None, "scale": 1.0}},
        rewards.IMITATION_TERMS,
    )
    assert list(table) == ["pose", "root_pose", "key_pos"]
    gen = torch.Generator().manual_seed(4)
    sim, ref = random_frame(gen), random_frame(gen)
    terms = rewards.compute_reward_terms(sim, ref, table, BODIES)
    assert list(terms) == ["pose", "root_pose", "key_pos"]
    total = rewards.compute_weighted_sum(terms, table, like=sim.root_pos[:, 0])
    assert torch.equal(total, 0.5 * terms["pose"] + 0.15 * terms["root_pose"] + 0.15 * terms["key_pos"])
    nothing = rewards.reward_table({"pose": {"weight": 0, "scale": 1.0}}, rewards.IMITATION_TERMS)
    assert torch.equal(rewards.compute_weighted_sum({}, nothing, like=sim.root_pos[:, 0]), torch.zeros(N))


def test_an_unknown_reward_term_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown reward terms \['pos'\]; known: \['pose', 'vel', 'root_pose', "):
        rewards.reward_table({**TABLE, "pos": {"weight": 1.0, "scale": 1.0}}, rewards.IMITATION_TERMS)


def test_tracking_error_is_mean_body_distance():
    body_pos = torch.zeros(2, B, 3)
    ref = body_pos.clone()
    ref[1, :, 0] = 0.2
    torch.testing.assert_close(rewards.compute_tracking_error(body_pos, ref), torch.tensor([0.0, 0.2]))


@pytest.mark.parametrize(
    "height, force, expected", [(0.05, 100.0, True), (0.5, 100.0, False), (0.05, 0.0, False)]
)
def test_fall_needs_low_height_contact_on_a_non_contact_body(height, force, expected):
    body_pos = torch.ones(1, B, 3)
    forces = torch.zeros(1, B, 3)
    body_pos[0, 1, 2] = height
    forces[0, 1, 2] = force
    mask = torch.tensor([True, True, True, False, False])
    assert compute_fall(body_pos, forces, mask, contact_height=0.15).item() is expected
    # A foot (not in the mask) on the ground is no fall.
    assert not compute_fall(body_pos, forces, ~mask, contact_height=0.15).item()
