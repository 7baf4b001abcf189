"""The pendulum env keeps the BaseEnv contract on mujoco.batch.Batch and its physics makes sense."""
import math

import pytest
import torch

from mimickit.envs.base_env import DoneFlags
from mimickit.envs.pendulum_env import PendulumEnv, compute_pendulum_reward, compute_wrapped_angle


def test_contract_shapes_and_reset_returns_full_obs():
    env = PendulumEnv(num_envs=5)
    obs = env.reset()
    assert obs.shape == (5, env.obs_dim) and env.action_dim == 1
    low, high = env.action_bounds
    assert low.tolist() == [-1.0] and high.tolist() == [1.0]
    obs, reward, done, info = env.step(torch.zeros(5, 1))
    assert obs.shape == (5, 3) and reward.shape == (5,) and done.dtype == torch.long
    assert all(v.shape == (5,) for v in info.values()) and "episode/angle_error" in info
    assert env.reset(torch.tensor([], dtype=torch.long)).shape == (5, 3)


def test_unactuated_pole_falls_and_fails_while_a_reset_env_restarts():
    env = PendulumEnv(num_envs=3, init_angle_range=0.1, init_vel_range=0.0, fail_angle=1.0)
    env.reset()
    dones = torch.stack([env.step(torch.zeros(3, 1))[2] for _ in range(60)])  # 3 s of a 10 s episode
    first_end = (dones != DoneFlags.NULL).int().argmax(dim=0)
    assert torch.all(first_end > 0)
    assert torch.all(dones[first_end, torch.arange(3)] == DoneFlags.FAIL)
    obs = env.step(torch.zeros(3, 1))[0]
    fresh = env.reset(torch.tensor([1]))
    assert fresh[1, 0] > math.cos(0.1) - 1e-6 > obs[1, 0]
    assert torch.equal(fresh[[0, 2]], obs[[0, 2]])


def test_time_out_ends_episodes_of_a_held_pole():
    env = PendulumEnv(num_envs=2, episode_length=0.5, control_dt=0.05, fail_angle=None)
    env.reset()
    dones = [env.step(torch.zeros(2, 1))[2] for _ in range(10)]
    assert all(torch.all(d == DoneFlags.NULL) for d in dones[:-1]) and torch.all(dones[-1] == DoneFlags.TIME)


def test_torque_pushes_the_pole_its_way():
    env = PendulumEnv(num_envs=2, init_angle_range=0.0, init_vel_range=0.0)
    env.reset()
    obs, *_ = env.step(torch.tensor([[1.0], [-1.0]]))
    assert obs[0, 2] > 0 > obs[1, 2] and torch.isclose(obs[0, 2], -obs[1, 2])


def test_reward_and_angle_helpers():
    angle = compute_wrapped_angle(torch.tensor([0.0, 2 * math.pi + 0.5, -math.pi - 0.5]))
    torch.testing.assert_close(angle, torch.tensor([0.0, 0.5, math.pi - 0.5]))
    r = compute_pendulum_reward(torch.tensor([0.0, 1.0]), torch.zeros(2), torch.zeros(2), 1.0, 0.1, 0.01)
    torch.testing.assert_close(r, torch.tensor([1.0, math.exp(-1.0)]))


def test_bad_input_is_rejected():
    env = PendulumEnv(num_envs=2)
    with pytest.raises(ValueError, match=r"expected shape \(2, 1\)"):
        env.step(torch.zeros(3, 1))
    with pytest.raises(ValueError, match="multiple of the MJCF timestep"):
        PendulumEnv(num_envs=2, control_dt=0.03)
    with pytest.raises(FileNotFoundError, match="nope.xml"):
        PendulumEnv(num_envs=2, model_file="nope.xml")
