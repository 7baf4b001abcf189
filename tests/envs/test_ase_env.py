"""ASE env on the CPU engine: a `default_reset_prob` share of the resets starts in the default standing pose at rest,
the others on their clip frame, and the discriminator history is the clip's either way (MimicKit)."""
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from mimickit.anim import rotations as rot
from mimickit.config import register_configs
from mimickit.envs.ase_env import default_char_state
from mimickit.run import build_env, validate

ROOT = Path(__file__).resolve().parents[2]


def make_env(*overrides):
    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["env=ase", "motion=procedural_walk", "sim.nthread=1",
                                                       "num_envs=32", *overrides])
    validate(cfg)
    torch.manual_seed(0)
    return build_env(cfg)


def at_default(env):
    """(N,) bool: the character is in the default pose at rest."""
    d = default_char_state(env.engine)
    e = env.engine
    return ((e.root_pos() - d.root_pos).norm(dim=-1) < 1e-4) & ((e.dof_pos() - d.dof_pos).abs().amax(-1) < 1e-4) \
        & (rot.quat_diff_angle(e.root_rot(), d.root_rot) < 1e-4) & (e.root_lin_vel().norm(dim=-1) < 1e-4) \
        & (e.dof_vel().abs().amax(-1) < 1e-4)


@pytest.mark.parametrize("prob, low, high", [(0.0, 0, 0), (1.0, 32, 32), (0.5, 8, 24)])
def test_a_share_of_resets_starts_in_the_default_pose(prob, low, high):
    env = make_env(f"env.default_reset_prob={prob}")
    env.reset()
    count = int(at_default(env).sum())
    assert low <= count <= high, count
    # the others stand on their clip frame
    ref = env.motion_lib.calc_motion_frame(env.motion_ids, env.motion_time0, with_bodies=False)
    on_clip = (env.engine.dof_pos() - ref.dof_pos).abs().amax(-1) < 1e-4
    assert bool((on_clip | at_default(env)).all())


def test_default_resets_keep_the_clip_history_and_only_reset_envs_move():
    env = make_env("env.default_reset_prob=1.0")
    env.reset()
    clip_windows = env.compute_demo_disc_obs(env.motion_ids, env.motion_time0)
    torch.testing.assert_close(env.disc_obs(), clip_windows)
    env.step(torch.zeros(env.num_envs, env.action_dim))
    moved = ~at_default(env)
    assert bool(moved.all())  # gravity and the PD targets moved everyone
    env.reset(torch.tensor([3]))
    assert at_default(env).tolist() == [i == 3 for i in range(env.num_envs)]


def test_default_reset_prob_out_of_range_is_refused():
    with pytest.raises(Exception, match=r"default_reset_prob must lie in \[0, 1\]"):  # hydra wraps the ValueError
        make_env("env.default_reset_prob=1.5")
