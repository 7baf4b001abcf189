"""The DeepMimic env on the GPU engine with CUDA graphs (`sim.graph=true`: physics, observations, rewards and resets
replayed as captured graphs) against the same env launching every kernel (`sim.graph=false`).

Needs mujoco_warp and a CUDA device; skips otherwise (CI has no GPU: run it on the GPU machine).
MIMICKIT_MJWARP_DEVICE=cpu runs it on MuJoCo Warp's CPU backend, where both envs launch kernels one by one.
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


def _env(graph: bool, *overrides: str):
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            "experiment=deepmimic_humanoid_ppo", "motion=procedural_walk", "sim=mjwarp", f"device={DEVICE}", "num_envs=64",
            f"sim.graph={str(graph).lower()}", *overrides,
        ])
    validate(cfg)
    torch.manual_seed(0)
    return build_env(cfg)


def test_graphed_steps_and_resets_match_eager_ones():
    """Episodes of 12 steps, no early termination and fixed start times: both envs see the same resets, so every
    step must agree up to float32 rounding of the physics."""
    overrides = ("env.episode_length=0.4", "env.enable_early_termination=false", "env.rand_reset=false")
    graphed, eager = _env(True, *overrides), _env(False, *overrides)
    obs_g, obs_e = graphed.reset(), eager.reset()
    gen = torch.Generator(device=DEVICE).manual_seed(1)
    resets = 0
    for _ in range(40):
        actions = 0.3 * torch.randn(64, graphed.action_dim, device=DEVICE, generator=gen)
        next_g, reward_g, done_g, info_g = graphed.step(actions)
        next_e, reward_e, done_e, info_e = eager.step(actions)
        torch.testing.assert_close(next_g, next_e, atol=2e-3, rtol=1e-3)
        torch.testing.assert_close(reward_g, reward_e, atol=1e-3, rtol=1e-3)
        assert torch.equal(done_g, done_e)
        torch.testing.assert_close(info_g["episode/tracking_error"], info_e["episode/tracking_error"], atol=1e-4, rtol=0)
        resets += int((done_g != DoneFlags.NULL).sum())
        obs_g, obs_e = graphed.reset_done(done_g), eager.reset_done(done_e)
        torch.testing.assert_close(obs_g, obs_e, atol=2e-3, rtol=1e-3)
    assert resets == 3 * 64  # time-outs at steps 12, 24 and 36
    assert graphed.num_unstable_resets == 0


def test_graphed_resets_sample_fresh_start_times():
    """Torch's generator advances on every replay: each reset draws new reference start times."""
    env = _env(True)
    env.reset()
    all_done = torch.full((64,), DoneFlags.TIME.value, dtype=torch.long, device=DEVICE)
    starts = []
    for _ in range(5):
        env.reset_done(all_done)  # the first calls run eagerly, then it is captured and replayed
        starts.append(env.motion_time0.clone())
    for earlier, later in zip(starts, starts[1:]):
        assert not torch.equal(earlier, later)
    assert (env.episode_step == 0).all()
