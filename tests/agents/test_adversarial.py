"""AMP and ADD end to end on the CPU engine: the discriminator learns to separate clip windows from the policy's,
the reward hook mixes its style reward with the env's, and each preset trains, logs, saves and loads in test mode
(ASE's too; test_ase.py tests ASE further)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from mimickit.agents.disc_losses import compute_disc_reward
from mimickit.config import register_configs
from mimickit.loggers import read_txt_log
from mimickit.run import build_env
from mimickit.utils.seeding import seed_everything
from mimickit.utils.timer import SectionTimer
from pendulum_agents import CONF, RecordingLogger

ROOT = Path(__file__).resolve().parents[2]
CLIPS = ROOT / "data" / "motions" / "humanoid"
TINY = ["num_envs=16", "sim.nthread=1", "algo.steps_per_iter=16", "algo.model.actor_hidden_dims=[64]",
        "algo.model.critic_hidden_dims=[64]", "algo.discriminator.hidden_dims=[64,64]"]
pytestmark = pytest.mark.skipif(not (CLIPS / "humanoid_walk.pkl").is_file(), reason="needs the converted clips (make data)")


def make_agent(experiment, tmp_path, *overrides, device="cpu"):
    """The preset at TINY sizes; with device="cuda", on the GPU engine (overrides "sim=mjwarp", "device=cuda")."""
    tiny = TINY if device == "cpu" else [o for o in TINY if not o.startswith("sim.")]  # the CPU engine's threads
    register_configs()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"experiment={experiment}", *tiny, *overrides])
    seed_everything(0)
    return instantiate(cfg.algo, env=build_env(cfg), logger=RecordingLogger(), out_dir=str(tmp_path), device=device)


def test_discriminator_separates_clips_from_a_random_policy(tmp_path):
    # the policy stays as initialised (actor lr 0): only the discriminator learns
    agent = make_agent("amp_humanoid_locomotion", tmp_path, "algo.update.actor.optimizer.lr=0", "test_episodes=0",
                       "algo.iters_per_output=10")
    agent.train(max_iters=10)
    first, last = agent.logger.rows[0], agent.logger.rows[-1]
    assert last["disc/accuracy"] > 0.8, [r["disc/accuracy"] for r in agent.logger.rows]
    assert last["disc/pos_logit"] > 0 > last["disc/neg_logit"]
    assert last["disc/accuracy"] > first["disc/accuracy"] + 0.1


def test_add_replays_mimickits_ring_and_amp_keeps_random_slots(tmp_path):
    """MimicKit's replay overwrites its oldest samples (ExperienceBuffer.push); ADD follows it, AMP keeps random slots."""
    assert make_agent("add_humanoid_spinkick", tmp_path).replay.overwrite == "oldest"
    assert make_agent("amp_humanoid_locomotion", tmp_path).replay.overwrite == "random"


def test_reward_hook_mixes_task_and_style_rewards(tmp_path):
    agent = make_agent("add_humanoid_spinkick", tmp_path, "algo.task_reward_weight=0.25", "algo.disc_reward_weight=0.5")
    agent._start_segment()
    agent._rollout(SectionTimer(agent.device))
    env_reward = agent.storage.reward.clone()
    assert env_reward.abs().sum() > 0  # ADD's env keeps DeepMimic's reward for logging and task mixing
    negatives = agent.storage.flat("disc_negative").clone()
    with torch.no_grad():
        expected_style = compute_disc_reward(agent.discriminator(agent.disc_normalizer.normalize(negatives)), 2.0)
        stats = agent.compute_rewards()
    expected = 0.25 * env_reward + 0.5 * expected_style.view_as(env_reward)
    torch.testing.assert_close(agent.storage.reward, expected)
    assert torch.isclose(stats["disc/reward_mean"], expected_style.mean())
    assert len(agent.replay) == negatives.shape[0]  # the rollout entered the replay buffer


def test_add_logs_each_part_of_the_difference_raw_and_as_the_discriminator_sees_it(tmp_path):
    """The parts (root position ... DoF velocities) cover the discriminator observation once each, and each logged
    value is the mean magnitude of the rollout's differences over the part's dimensions."""
    agent = make_agent("add_humanoid_spinkick", tmp_path)
    parts = agent.env.disc_obs_parts
    assert list(parts) == ["root_pos", "root_rot", "joint_rot", "body_pos", "root_vel", "dof_vel"]
    assert torch.equal(torch.sort(torch.cat(list(parts.values()))).values, torch.arange(agent.env.disc_obs_dim))
    agent._start_segment()
    agent._rollout(SectionTimer(agent.device))
    negatives = agent.storage.flat("disc_negative").clone()
    scaled = agent.disc_normalizer.normalize(negatives).abs()
    with torch.no_grad():
        stats = agent.compute_rewards()
    for name, index in parts.items():
        torch.testing.assert_close(stats[f"add/diff_{name}"], negatives[:, index].abs().mean())
        torch.testing.assert_close(stats[f"add/scaled_diff_{name}"], scaled[:, index].mean())
    assert stats["add/diff_body_pos"] > 0


def test_add_negatives_are_reference_minus_character_and_the_positive_is_zero(tmp_path):
    agent = make_agent("add_humanoid_spinkick", tmp_path)
    info = {"disc_obs": torch.ones(16, agent.env.disc_obs_dim), "disc_obs_demo": torch.full((16, agent.env.disc_obs_dim), 3.0)}
    assert torch.equal(agent.rollout_extras(info)["disc_negative"], torch.full((16, agent.env.disc_obs_dim), 2.0))
    agent._start_segment()
    agent._rollout(SectionTimer(agent.device))
    batch = next(agent.storage.minibatches(8, 1))
    assert torch.equal(agent.positive_batch(batch), torch.zeros(1, agent.env.disc_obs_dim))


def run_cli(*args):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("SLURM_RESTART_COUNT", None)
    return subprocess.run([sys.executable, "-m", "mimickit.run", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


# what a preset adds to TINY (its own networks made small, test-mode keys), logs and saves beyond the discriminator's
PRESET_TINY = {"ase_humanoid_pretrain": ["algo.encoder.hidden_dims=[64]"]}
PRESET_TEST = {"ase_humanoid_pretrain": ["algo.fixed_latent_seed=1"]}
PRESET_LOGS = {"ase_humanoid_pretrain": ("enc/loss", "enc/reward_mean", "actor/diversity_loss")}
PRESET_STATE = {"ase_humanoid_pretrain": {"encoder", "optimizer/enc"}}


@pytest.mark.parametrize("experiment", ["amp_humanoid_locomotion", "add_humanoid_spinkick", "ase_humanoid_pretrain"])
def test_preset_trains_logs_saves_and_loads_in_test_mode(experiment, tmp_path):
    train_dir, test_dir = tmp_path / "train", tmp_path / "test"
    tiny = [*TINY, *PRESET_TINY.get(experiment, [])]
    out = run_cli(f"experiment={experiment}", *tiny, "max_iters=2", "algo.iters_per_output=1", "test_episodes=2",
                  "logger=tb", "logger.txt.columns=all", f"hydra.run.dir={train_dir}")  # losses too
    assert out.returncode == 0, out.stderr[-3000:]
    log = read_txt_log(str(train_dir / "log.txt"))
    for key in ("disc/accuracy", "disc/pos_logit", "disc/neg_logit", "disc/grad_penalty", "disc/reward_mean",
                "disc/loss", "actor/loss", "critic/loss", *PRESET_LOGS.get(experiment, ())):
        assert key in log and len(log[key]) == 2, key
    assert any(p.name.startswith("events.out.tfevents") for p in (train_dir / "tb").iterdir())
    state = torch.load(train_dir / "model.pt", weights_only=True)
    assert {"discriminator", "disc_normalizer", "optimizer/disc", *PRESET_STATE.get(experiment, ())} <= set(state)

    out = run_cli(f"experiment={experiment}", *tiny, *PRESET_TEST.get(experiment, []), "mode=test", "test_episodes=4",
                  f"model_file={train_dir / 'model.pt'}", f"hydra.run.dir={test_dir}")
    assert out.returncode == 0, out.stderr[-3000:]
    metrics = json.loads((test_dir / "metrics.json").read_text())
    assert metrics["episodes"] >= 4 and metrics["episode_length"] > 0
