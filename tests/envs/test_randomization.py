"""Domain randomisation in a character env (`randomization=...`): each term does what its YAML says, ranges that
change nothing reproduce the plain run bit for bit, and the physical terms are drawn per env at its resets.

CPU tests use the DeepMimic env with fixed starts (one clip, `rand_reset=false`, no early termination), so that two
envs given the same actions differ only by the term under test. The GPU test at the end skips without mujoco_warp
and a CUDA device.
"""
from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from mimickit.config import register_configs
from mimickit.envs.base_env import DoneFlags
from mimickit.envs.randomization import DomainRandomizer, compute_delayed_actions
from mimickit.run import build_env, validate
from mimickit.utils.paths import CONF_DIR

FIXED_STARTS = ("env.rand_reset=false", "env.enable_early_termination=false", "env.pose_termination=false")
# every range of conf/randomization/sim2real.yaml at the value that changes nothing
IDENTITY = ("randomization.friction_scale=[1,1]", "randomization.mass_scale=[1,1]", "randomization.com_offset=[0,0]",
            "randomization.kp_scale=[1,1]", "randomization.kd_scale=[1,1]", "randomization.torque_limit_scale=[1,1]",
            "randomization.push_interval=[0.1,0.2]", "randomization.push_lin_vel=[0,0,0]",
            "randomization.push_ang_vel=[0,0,0]", "randomization.obs_noise_std=0.0", "randomization.action_delay=[0,0]")


def make_cfg(*overrides: str, device: str = "cpu", experiment: str | None = "deepmimic_humanoid_ppo"):
    register_configs()
    sim = ("sim.nthread=1",) if device == "cpu" else ("sim=mjwarp",)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            *([f"experiment={experiment}"] if experiment else []), "motion=procedural_walk", "num_envs=4",
            f"device={device}", *sim, *overrides])
    validate(cfg)
    return cfg


def make_env(*overrides: str):
    torch.manual_seed(0)
    return build_env(make_cfg(*overrides))


def rollout(env, actions: torch.Tensor) -> dict[str, torch.Tensor]:
    """Reset, then one step per row of `actions` (steps, N, A); what each step returned, stacked. Seeded, so that
    random starts are the same for every env given the same draws."""
    torch.manual_seed(0)
    out = {"reset_obs": env.reset(), "obs": [], "reward": [], "root_lin_vel": []}
    for a in actions:
        obs, reward, _, _ = env.step(a)
        out["obs"].append(obs)
        out["reward"].append(reward)
        out["root_lin_vel"].append(env.engine.root_lin_vel().clone())
    return {k: torch.stack(v) if isinstance(v, list) else v for k, v in out.items()}


def random_actions(env, steps: int, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return 0.3 * torch.randn(steps, env.num_envs, env.action_dim, generator=gen)


def test_none_and_ranges_that_change_nothing_reproduce_the_plain_run_bit_for_bit():
    """With random starts, so that a term drawing random numbers would also move every later draw."""
    plain = make_env()
    assert plain.randomizer is None  # randomization=none, the default
    identity = make_env(*IDENTITY)
    assert identity.randomizer is None  # every term off
    actions = random_actions(plain, steps=20)
    a, b = rollout(plain, actions), rollout(identity, actions)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_sim2real_turns_every_term_on_and_trains():
    env = make_env("randomization=sim2real")
    r = env.randomizer
    assert r is not None and set(r.physics_ranges) == {"friction_scale", "mass_scale", "com_offset", "kp_scale",
                                                       "kd_scale", "torque_limit_scale"}
    assert r.pushes and r.obs_noise_std > 0 and r.action_delay == (0, 1)
    out = rollout(env, random_actions(env, steps=10))
    assert all(torch.isfinite(v).all() for v in out.values())


def test_physical_terms_are_drawn_per_env_at_its_resets():
    env = make_env("randomization.mass_scale=[0.5,1.5]", "randomization.friction_scale=[0.2,0.4]")
    batch, model = env.engine._batch, env.engine.mj_model
    env.reset()
    mass = batch.expanded("body_mass")[:, 1:] / model.body_mass[1:]
    friction = batch.expanded("geom_friction")[:, :, 0] / model.geom_friction[:, 0]
    assert ((mass >= 0.5) & (mass <= 1.5)).all() and len(np.unique(mass.round(9))) == mass.size  # per body and env
    assert ((friction >= 0.2) & (friction <= 0.4)).all()
    assert np.allclose(friction, friction[:, :1]) and len(np.unique(friction[:, 0])) == env.num_envs  # one per env
    before = batch.expanded("body_mass").copy()
    done = torch.tensor([DoneFlags.FAIL, DoneFlags.NULL, DoneFlags.NULL, DoneFlags.TIME])
    env.reset_done(done)
    changed = (batch.expanded("body_mass") != before).any(axis=1)
    assert changed.tolist() == [True, False, False, True]


def test_a_heavier_character_moves_differently_under_the_same_actions():
    actions = random_actions(make_env(), steps=10)
    plain = rollout(make_env(*FIXED_STARTS), actions)
    heavy = rollout(make_env(*FIXED_STARTS, "randomization.mass_scale=[1.3,1.3]"), actions)
    # the same start (up to rounding: body velocities are read about the centre of mass) ...
    torch.testing.assert_close(plain["reset_obs"], heavy["reset_obs"], atol=1e-5, rtol=0)
    assert (heavy["obs"][-1] - plain["obs"][-1]).abs().max() > 1e-2  # ... another motion


def test_pushes_kick_the_root_velocity_at_the_sampled_steps():
    """A push every 0.1 s (3 control steps) adds U(-1, 1) m/s along x to the root velocity the step reached."""
    push = ("randomization.push_interval=[0.1,0.1]", "randomization.push_lin_vel=[1.0,0.0,0.0]")
    actions = random_actions(make_env(), steps=3)
    plain = make_env(*FIXED_STARTS)
    pushed = make_env(*FIXED_STARTS, *push)
    a, b = rollout(plain, actions), rollout(pushed, actions)
    assert torch.equal(a["root_lin_vel"][:2], b["root_lin_vel"][:2])  # nothing before the push ...
    kick = b["root_lin_vel"][2] - a["root_lin_vel"][2]
    assert torch.equal(kick[:, 1:], torch.zeros_like(kick[:, 1:]))  # ... then x alone
    assert (kick[:, 0].abs() <= 1.0 + 1e-6).all() and (kick[:, 0].abs() > 0).all()
    assert not torch.equal(a["obs"][2], b["obs"][2])  # the policy sees the kick
    assert torch.equal(a["reward"], b["reward"])  # the step's reward does not (its state was reached before)
    assert (pushed.randomizer.push_steps_left == 3).all()  # the next push is drawn


def test_action_delay_applies_each_action_k_steps_later():
    """Delay 2: the env applies a0, a0, a0, a1, a2, ... (the first action of an episode fills the history)."""
    actions = random_actions(make_env(), steps=8)
    delayed = make_env(*FIXED_STARTS, "randomization.action_delay=[2,2]")
    shifted = torch.cat([actions[:1], actions[:1], actions[:-2]])
    a, b = rollout(delayed, actions), rollout(make_env(*FIXED_STARTS), shifted)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_action_delays_are_drawn_per_episode_and_histories_restart():
    env = make_env("num_envs=64", "randomization.action_delay=[0,3]")
    env.reset()
    assert set(env.randomizer.delays.tolist()) == {0, 1, 2, 3}
    # env 0 fresh from a reset fills its history with its first action; env 1 keeps its past (zeros here)
    history = torch.zeros(3, 2, 1)
    applied = compute_delayed_actions(history, torch.tensor([[5.0], [5.0]]), torch.tensor([True, False]),
                                      torch.tensor([2, 2]))
    assert applied.flatten().tolist() == [5.0, 0.0]
    assert history[:, 0].flatten().tolist() == [5.0] * 3 and history[:, 1].flatten().tolist() == [5.0, 0.0, 0.0]


def test_observation_noise_has_the_configured_std():
    actions = random_actions(make_env(), steps=3)
    noisy = make_env(*FIXED_STARTS, "num_envs=16", "randomization.obs_noise_std=0.05")
    plain = make_env(*FIXED_STARTS, "num_envs=16")
    a, b = rollout(noisy, actions.repeat(1, 4, 1)), rollout(plain, actions.repeat(1, 4, 1))
    for key in ("reset_obs", "obs"):
        noise = a[key] - b[key]
        assert noise.std().item() == pytest.approx(0.05, rel=0.05) and abs(noise.mean().item()) < 0.005
    assert torch.equal(a["root_lin_vel"], b["root_lin_vel"])  # the simulation is untouched


@pytest.mark.parametrize("override, message", [
    ("randomization.mass_scale=[1.2,0.8]", r"mass_scale: \[low, high\] with low <= high"),
    ("randomization.kp_scale=[-1,1]", "scales must be >= 0"),
    ("randomization.push_lin_vel=[1,0,0]", "set push_interval too"),
    ("randomization.action_delay=[0,1.5]", "action_delay"),
    ("randomization.action_delay=[-1,1]", "whole control steps >= 0"),
    ("randomization.com_offset=[0,0,1]", "expected 2 numbers"),
    ("randomization.mass_scal=[1,1]", "mass_scal"),
])
def test_bad_settings_fail_clearly(override, message):
    with pytest.raises(Exception, match=message):
        make_env(override)


def test_the_torque_mode_has_no_pd_gains_to_scale():
    with pytest.raises(Exception, match="kp_scale and kd_scale scale PD servos"):
        make_env("sim.control_mode=torque", "randomization.kd_scale=[0.9,1.1]")


def test_a_kinematic_env_refuses_randomisation():
    with pytest.raises(ValueError, match="not a simulated character env"):
        build_env(make_cfg("env=view_motion", "randomization.obs_noise_std=0.1", experiment=None))


GPU = os.environ.get("MIMICKIT_MJWARP_DEVICE", "cuda")
needs_gpu = pytest.mark.skipif(
    importlib.util.find_spec("mujoco_warp") is None or (GPU.startswith("cuda") and not torch.cuda.is_available()),
    reason="needs mujoco_warp and a CUDA device",
)


@needs_gpu
def test_gpu_graphed_resets_draw_new_worlds_in_place():
    """sim=mjwarp with CUDA graphs and every term on: the replayed reset graph writes new physical parameters into the
    per-world model arrays of the reset envs only, and the episode runs finite."""
    torch.manual_seed(0)
    env = build_env(make_cfg("num_envs=64", "randomization=sim2real", device=GPU))
    assert isinstance(env.randomizer, DomainRandomizer)
    mass = env.engine._model_views["body_mass"]
    env.reset()
    done = torch.full((64,), DoneFlags.NULL.value, dtype=torch.long, device=GPU)
    done[::2] = DoneFlags.TIME.value
    for step in range(6):  # the first two calls run eagerly, then graphs are captured and replayed
        before = mass.clone()
        obs, reward, _, _ = env.step(0.3 * torch.randn(64, env.action_dim, device=GPU))
        assert torch.isfinite(obs).all() and torch.isfinite(reward).all()
        env.reset_done(done)
        changed = (mass != before).any(dim=1)
        assert changed[::2].all() and not changed[1::2].any(), step
    scales = mass[:, 1:] / torch.as_tensor(env.engine.mj_model.body_mass[1:], device=GPU, dtype=torch.float32)
    assert ((scales > 0.9 - 1e-5) & (scales < 1.1 + 1e-5)).all()
    assert env.engine.num_unstable_resets == 0
