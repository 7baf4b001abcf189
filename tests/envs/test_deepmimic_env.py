"""DeepMimic env on the CPU engine: reference state init, imitation reward, terminations, and learning."""
import json
import logging
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import InstantiationException

from mimickit.config import register_configs
from mimickit.envs import rewards
from mimickit.envs.base_env import DoneFlags
from mimickit.loggers import read_txt_log
from mimickit.run import build_env, run, validate

ROOT = Path(__file__).resolve().parents[2]


def make_cfg(*overrides):
    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            config_name="config",
            overrides=["experiment=deepmimic_humanoid_ppo", "motion=procedural_walk", "sim.nthread=1", *overrides],
        )
    validate(cfg)
    return cfg


def make_env(*overrides):
    torch.manual_seed(0)
    return build_env(make_cfg(*overrides))


def reference_actions(env):
    """Actions whose PD targets are the reference pose of the next step."""
    ref = env.motion_lib.calc_motion_frame(env.motion_ids, env._motion_time() + env.dt)
    return (ref.dof_pos - env._action_offset) / env._action_scale


def test_reset_puts_the_character_on_the_reference():
    env = make_env("num_envs=8")
    obs = env.reset()
    assert obs.shape == (8, env.obs_dim) and torch.isfinite(obs).all()
    ref = env.motion_lib.calc_motion_frame(env.motion_ids, env._motion_time())
    torch.testing.assert_close(env.engine.body_pos(), ref.body_pos, atol=2e-3, rtol=0)
    torch.testing.assert_close(env.engine.dof_pos(), ref.dof_pos, atol=1e-5, rtol=0)


def test_tracking_the_reference_earns_more_than_random_actions():
    env = make_env("num_envs=8", "env.pose_termination=false")
    env.reset()
    tracked, errors = [], []
    for _ in range(15):
        _, reward, done, info = env.step(reference_actions(env))
        tracked.append(reward)
        errors.append(info["episode/tracking_error"])
    env.reset()
    gen = torch.Generator().manual_seed(0)
    random = [env.step(torch.rand(8, env.action_dim, generator=gen) * 2 - 1)[1] for _ in range(15)]
    tracked, random = torch.stack(tracked).mean(), torch.stack(random).mean()
    assert tracked > 0.6, tracked
    assert tracked > random + 0.15, (tracked, random)
    errors = torch.stack(errors)
    assert errors[:5].max() < 0.03, errors[:5]  # PD tracking holds the reference closely at first...
    assert errors.max() < 0.2  # ...and open loop it drifts only slowly (no feedback keeps balance)


def test_pose_termination_on_the_mean_or_the_farthest_body():
    """One body 0.6 m off its reference, the others on it: the mean error (0.6 / 15 m) stays under a 0.5 m limit,
    the farthest body (MimicKit's rule) does not."""
    mean_env = make_env("num_envs=2", "env.pose_termination_metric=mean")
    max_env = make_env("num_envs=2", "env.pose_termination_metric=max")
    step = mean_env._post_physics_step()
    body_pos = step.ref.body_pos.clone()
    body_pos[:, 3, 2] += 0.6
    step = step._replace(sim=step.sim._replace(body_pos=body_pos),
                         tracking_error=rewards.compute_tracking_error(body_pos, step.ref.body_pos))
    torch.testing.assert_close(mean_env._pose_distance(step), torch.full((2,), 0.6 / body_pos.shape[1]))
    torch.testing.assert_close(max_env._pose_distance(step), torch.full((2,), 0.6))
    with pytest.raises(InstantiationException, match="pose_termination_metric"):
        make_env("env.pose_termination_metric=median")


def test_episode_ends_by_time_out_and_by_falling():
    env = make_env("num_envs=4", "env.episode_length=0.5", "env.pose_termination=false")
    env.reset()
    flags = [env.step(reference_actions(env))[2] for _ in range(15)]
    assert (flags[14] == DoneFlags.TIME).all(), flags[14]
    assert all((f == DoneFlags.NULL).all() for f in flags[:14])

    env = make_env("num_envs=4", "env.episode_length=20")
    env.reset()
    limp = -torch.ones(4, env.action_dim)  # every joint driven to its lower limit: the character crumples
    done = torch.zeros(4, dtype=torch.long)
    for _ in range(120):
        _, _, step_done, _ = env.step(limp)
        done = torch.where(done == DoneFlags.NULL, step_done, done)
    assert (done == DoneFlags.FAIL).all(), done


def test_unknown_key_body_is_rejected():
    with pytest.raises(InstantiationException, match="unknown body 'left_paw'"):
        make_env("num_envs=2", "env.key_bodies=[left_paw]")


def test_short_training_raises_episode_length_and_imitation_return(tmp_path):
    """A minute or two of PPO on the CPU: episodes get longer and collect more imitation reward."""
    cfg = make_cfg(
        "num_envs=64",
        "max_iters=40",
        "test_episodes=0",
        "algo.iters_per_output=5",
        "algo.steps_per_iter=16",
        "algo.model.actor_hidden_dims=[256,128]",
        "algo.model.critic_hidden_dims=[256,128]",
        "algo.update.actor.optimizer.lr=3e-4",
        "algo.update.critic.optimizer.lr=1e-3",
    )
    run(cfg, str(tmp_path))
    log = read_txt_log(str(tmp_path / "log.txt"))
    for key in ("train/episode_length", "train/return"):
        early, late = log[key][:2].mean(), log[key][-2:].mean()
        assert late > 1.10 * early, (key, log[key])  # seeds 0-2 give 1.12-1.23


def test_unstable_physics_is_counted_in_the_log_and_warned_once(tmp_path, caplog):
    """Physics at the control rate (30 Hz) with no passive damping blows worlds up: the counts reach log.txt and
    metrics.json, and one warning names the share and the fix."""
    cfg = make_cfg(
        "num_envs=16",
        "max_iters=4",
        "test_episodes=0",
        "algo.iters_per_output=2",
        "algo.steps_per_iter=8",
        "algo.model.actor_hidden_dims=[32]",
        "algo.model.critic_hidden_dims=[32]",
        "sim.sim_freq=30",
        "sim.passive_damping_frac=0",
        "logger.txt.columns=all",  # the per-iteration count too (the short set has the total)
    )
    with caplog.at_level(logging.WARNING, logger="mimickit.agents.agent"):
        run(cfg, str(tmp_path))
    log = read_txt_log(str(tmp_path / "log.txt"))
    per_iteration, total = log["sim/unstable_resets"], log["sim/unstable_resets_total"]
    assert (per_iteration > 0).all() and 0 < total[0] < total[1], log  # measured: 20, 19 (of 128 steps); 34, 63
    assert json.loads((tmp_path / "metrics.json").read_text())["sim/unstable_resets_total"] == total[1]
    warnings = [r.getMessage() for r in caplog.records if "simulation blow-up" in r.getMessage()]
    assert len(warnings) == 1 and "raise sim.sim_freq" in warnings[0], warnings


def test_partial_reset_updates_only_the_reset_rows():
    env = make_env("num_envs=6")
    env.reset()
    stepped, _, _, _ = env.step(reference_actions(env))
    ids = torch.tensor([1, 4])
    obs = env.reset(ids)
    torch.testing.assert_close(obs, env._compute_obs())  # the same as recomputing every row
    keep = torch.tensor([0, 2, 3, 5])
    torch.testing.assert_close(obs[keep], stepped[keep])
    assert not torch.allclose(obs[ids], stepped[ids])
    assert (env.episode_step[ids] == 0).all() and (env.episode_step[keep] == 1).all()


def test_a_step_passes_its_reference_and_reward_terms_explicitly():
    """The reward, termination and info are functions of the step's record (reference, simulated frame, tracking
    error) and the reward terms: rebuilt from the same state, they give what `step` returned, and nothing of the
    step is left in attributes."""
    env = make_env("num_envs=4")
    env.reset()
    _, reward, done, info = env.step(reference_actions(env))
    step = env._post_physics_step()  # DeepMimic's keeps no state: a second call is a pure query
    total, terms = env._compute_reward(step)
    assert torch.equal(total, reward)
    assert torch.equal(env._compute_done(step, torch.zeros(4, dtype=torch.bool)), done)
    rebuilt = env._compute_info(step, terms)
    assert list(rebuilt) == list(info) == ["episode/tracking_error", "episode/mpjpe",
                                           *(f"episode/reward_{k}" for k in terms)]
    for key in info:
        assert torch.equal(rebuilt[key], info[key]), key
    ref = env.motion_lib.calc_motion_frame(env.motion_ids, env._motion_time())
    assert torch.equal(step.ref.body_pos, ref.body_pos) and torch.equal(step.sim.body_pos, env.engine.body_pos())
    assert not {"_ref", "reward_terms", "_tracking_error"} & set(vars(env))


def test_reward_is_the_tables_weighted_sum_and_off_terms_are_neither_computed_nor_logged(monkeypatch):
    env = make_env("num_envs=4")
    env.reset()
    _, reward, _, info = env.step(reference_actions(env))
    weights = {"pose": 0.5, "vel": 0.1, "root_pose": 0.15, "root_vel": 0.1, "key_pos": 0.15}  # conf/env/deepmimic.yaml
    assert [k for k in info if k.startswith("episode/reward_")] == [f"episode/reward_{k}" for k in weights]
    terms = {k: info[f"episode/reward_{k}"] for k in weights}
    w = weights
    by_hand = (w["pose"] * terms["pose"] + w["vel"] * terms["vel"] + w["root_pose"] * terms["root_pose"]
               + w["root_vel"] * terms["root_vel"] + w["key_pos"] * terms["key_pos"])
    assert torch.equal(reward, by_hand)

    def not_to_be_called(*args):
        raise AssertionError("a term of weight 0 or null was computed")

    monkeypatch.setitem(rewards.IMITATION_TERMS, "vel", not_to_be_called)
    monkeypatch.setitem(rewards.IMITATION_TERMS, "key_pos", not_to_be_called)
    env = make_env("num_envs=4", "env.reward.vel.weight=0", "env.reward.key_pos.weight=null")
    env.reset()
    _, reward, _, info = env.step(reference_actions(env))
    logged = [k for k in info if k.startswith("episode/reward_")]
    assert logged == ["episode/reward_pose", "episode/reward_root_pose", "episode/reward_root_vel"]
    by_hand = (0.5 * info["episode/reward_pose"] + 0.15 * info["episode/reward_root_pose"]
               + 0.1 * info["episode/reward_root_vel"])
    assert torch.equal(reward, by_hand)
