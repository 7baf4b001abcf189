"""ADD env on the CPU engine: DeepMimic plus paired discriminator observations of the character and its reference."""
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import InstantiationException

from mimickit.config import register_configs
from mimickit.envs.base_env import DoneFlags
from mimickit.envs.disc_obs import disc_obs_frame_size
from mimickit.run import build_env, validate

ROOT = Path(__file__).resolve().parents[2]


def make_env(*overrides):
    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        overrides = ["env=add", "motion=procedural_walk", "sim.nthread=1", *overrides]
        cfg = compose(config_name="config", overrides=overrides)
    validate(cfg)
    torch.manual_seed(0)
    return build_env(cfg)


def follow_reference_exactly(env, num_steps):
    """Advance the reference by `num_steps` control steps with the simulator teleported onto it each time (a perfect
    tracker), recording each state into the history as a step does; returns the last step's info."""
    ids = torch.arange(env.num_envs)
    for _ in range(num_steps):
        env.episode_step += 1
        f = env.motion_lib.calc_motion_frame(env.motion_ids, env._motion_time(), with_bodies=False)
        env.engine.set_state(ids, f.char_state())
        step = env._post_physics_step()
    return env._compute_info(step, {})


@pytest.mark.parametrize("global_obs,world_body_pos", [(True, True), (True, False), (False, False)])
@pytest.mark.parametrize("steps", [1, 3])
def test_disc_obs_equals_the_demo_when_the_simulator_is_on_the_reference(global_obs, world_body_pos, steps):
    env = make_env("num_envs=5", f"env.global_obs={str(global_obs).lower()}",
                   f"env.world_body_pos={str(world_body_pos).lower()}", f"env.num_disc_obs_steps={steps}")
    env.reset()
    gen = torch.Generator().manual_seed(0)
    _, _, _, info = env.step(0.3 * torch.randn(5, env.action_dim, generator=gen))  # off the reference
    assert (info["disc_obs"] - info["disc_obs_demo"]).abs().max() > 0.05
    info = follow_reference_exactly(env, steps + 2)
    assert info["disc_obs"].shape == info["disc_obs_demo"].shape == (5, env.disc_obs_dim)
    torch.testing.assert_close(info["disc_obs"], info["disc_obs_demo"], atol=1e-4, rtol=0)


def test_world_body_positions_need_world_frames():
    with pytest.raises(InstantiationException, match="world_body_pos needs env.global_obs=true"):
        make_env("num_envs=2", "env.world_body_pos=true", "env.global_obs=false")


def test_dims_info_and_deepmimic_behaviour():
    env = make_env("num_envs=4")
    j, b, d = env.engine.num_bodies - 1, env.engine.num_bodies, env.engine.num_dofs
    assert env.disc_obs_dim == disc_obs_frame_size(j, b, d, root_height_obs=True) == 3 + 6 + 6 * j + 3 * b + 3 + 3 + d
    obs = env.reset()
    assert obs.shape == (4, env.obs_dim)
    # the reset state is the reference: the first disc obs equal the demo's
    torch.testing.assert_close(env.disc_obs(), env.disc_obs_demo(), atol=1e-4, rtol=0)
    _, reward, done, info = env.step(torch.zeros(4, env.action_dim))
    assert {"disc_obs", "disc_obs_demo", "episode/tracking_error"} <= set(info)
    assert (reward > 0).all() and (done == DoneFlags.NULL).all()  # DeepMimic's imitation reward
    # the demo is the reference at the step's motion time, ADD's world root position included
    ref = env.motion_lib.calc_motion_frame(env.motion_ids, env._motion_time())
    torch.testing.assert_close(info["disc_obs_demo"][:, :3], ref.root_pos, atol=1e-5, rtol=0)
    torch.testing.assert_close(info["disc_obs"][:, :3], env.engine.root_pos(), atol=1e-6, rtol=0)


def test_pose_termination_is_deepmimics():
    env = make_env("num_envs=3", "env.pose_termination_dist=0.05", "env.enable_early_termination=true")
    env.reset()
    done = torch.zeros(3, dtype=torch.long)
    for _ in range(30):
        _, _, step_done, _ = env.step(torch.ones(3, env.action_dim))
        done = torch.where(done == DoneFlags.NULL, step_done, done)
    assert (done == DoneFlags.FAIL).all(), done
