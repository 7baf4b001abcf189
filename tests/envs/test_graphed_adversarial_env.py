"""The AMP, ADD and ASE envs on the GPU engine with CUDA graphs (`sim.graph=true`) against the same envs launching every
kernel (`sim.graph=false`): the discriminator history must be updated in place, without host syncs, so that the
captured step and reset replay it correctly.

Needs mujoco_warp and a CUDA device; skips otherwise (CI has no GPU: run it on the GPU machine).
"""
from __future__ import annotations

import importlib.util
import os

import pytest
import torch
from hydra import compose, initialize_config_dir

from mimickit.config import register_configs
from mimickit.envs.base_env import DoneFlags
from mimickit.run import build_env, validate
from mimickit.utils.paths import CONF_DIR

DEVICE = os.environ.get("MIMICKIT_MJWARP_DEVICE", "cuda")
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mujoco_warp") is None or (DEVICE.startswith("cuda") and not torch.cuda.is_available()),
    reason="needs mujoco_warp and a CUDA device",
)

# episodes of 12 steps, fixed start times and no early termination: graphed and eager envs see the same resets
SAME_RESETS = ("env.episode_length=0.4", "env.enable_early_termination=false", "env.rand_reset=false")


def _env(env: str, graph: bool, *overrides: str):
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            f"env={env}", "motion=procedural_walk", "sim=mjwarp", f"device={DEVICE}", "num_envs=64",
            f"sim.graph={str(graph).lower()}", *overrides,
        ])
    validate(cfg)
    torch.manual_seed(0)
    return build_env(cfg)


# ASE: every reset in the default pose, so graphed and eager envs draw the same starts
@pytest.mark.parametrize("env_name, overrides", [("amp", ()), ("add", ()), ("ase", ("env.default_reset_prob=1.0",))])
def test_graphed_disc_obs_match_eager_ones(env_name, overrides):
    graphed, eager = _env(env_name, True, *SAME_RESETS, *overrides), _env(env_name, False, *SAME_RESETS, *overrides)
    graphed.reset(), eager.reset()
    keys = ["disc_obs"] + (["disc_obs_demo"] if env_name == "add" else [])
    gen = torch.Generator(device=DEVICE).manual_seed(1)
    resets = 0
    for _ in range(40):
        actions = 0.3 * torch.randn(64, graphed.action_dim, device=DEVICE, generator=gen)
        next_g, _, done_g, info_g = graphed.step(actions)
        next_e, _, done_e, info_e = eager.step(actions)
        torch.testing.assert_close(next_g, next_e, atol=2e-3, rtol=1e-3)
        assert torch.equal(done_g, done_e)
        for key in keys:
            assert info_g[key].shape == (64, graphed.disc_obs_dim)
            torch.testing.assert_close(info_g[key], info_e[key], atol=2e-3, rtol=1e-3)
        resets += int((done_g != DoneFlags.NULL).sum())
        graphed.reset_done(done_g), eager.reset_done(done_e)
        torch.testing.assert_close(graphed.disc_obs(), eager.disc_obs(), atol=2e-3, rtol=1e-3)
    assert resets == 3 * 64


def test_graphed_amp_resets_refill_the_history_from_fresh_clip_times():
    env = _env("amp", True)
    env.reset()
    gen = torch.Generator(device=DEVICE).manual_seed(2)
    for _ in range(5):
        env.step(0.3 * torch.randn(64, env.action_dim, device=DEVICE, generator=gen))
        done = torch.where(torch.arange(64, device=DEVICE) % 2 == 0, DoneFlags.TIME.value, DoneFlags.NULL.value)
        before = env.disc_obs()
        start = env.motion_time0.clone()
        env.reset_done(done)  # the first calls run eagerly, then it is captured and replayed
        reset = done != DoneFlags.NULL
        after = env.disc_obs()
        torch.testing.assert_close(after[~reset], before[~reset], atol=0, rtol=0)
        demo = env.compute_demo_disc_obs(env.motion_ids, env.motion_time0)
        torch.testing.assert_close(after[reset], demo[reset], atol=1e-5, rtol=0)
        assert not torch.equal(env.motion_time0[reset], start[reset])
    assert env.fetch_demo_disc_obs(4096).shape == (4096, env.disc_obs_dim)
