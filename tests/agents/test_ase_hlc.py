"""The ASE high-level controller on the CPU engine, driving a tiny low-level policy pre-trained here
(experiment=ase_humanoid_pretrain, one iteration): the env receives llc(obs, z) with z the HLC's action scaled to unit
length; the low-level weights stay bit-identical through training and out of the checkpoint; the style reward is a
weighted term, not computed at weight 0; a low-level policy that does not fit the env is refused; each preset trains,
logs, saves and loads in test mode."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from mimickit.agents.ase_hlc import STYLE_REWARD, latents_from_actions
from mimickit.config import register_configs
from mimickit.envs.base_env import DoneFlags
from mimickit.loggers import read_txt_log
from mimickit.render.playback import policy_env_steps
from mimickit.run import build_env
from mimickit.utils.checkpoint import CheckpointError
from mimickit.utils.seeding import seed_everything
from mimickit.utils.timer import SectionTimer
from pendulum_agents import CONF, RecordingLogger

ROOT = Path(__file__).resolve().parents[2]
# the procedural clip ships with the repository: these tests need no converted clips
SMALL = ["motion=procedural_walk", "num_envs=4", "sim.nthread=1", "algo.model.actor_hidden_dims=[16]",
         "algo.model.critic_hidden_dims=[16]"]
LLC = ["experiment=ase_humanoid_pretrain", *SMALL, "algo.steps_per_iter=4", "algo.discriminator.hidden_dims=[16]",
       "algo.encoder.hidden_dims=[16]", "algo.latent_dim=8", "test_episodes=0"]
HLC = [*SMALL, "algo.steps_per_iter=8"]
LATENT_DIM = 8


def compose_cfg(*overrides):
    register_configs()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


@pytest.fixture(scope="module")
def llc_file(tmp_path_factory):
    """model.pt and config.yaml of a one-iteration ASE low-level run (normalisers with statistics)."""
    out = tmp_path_factory.mktemp("llc")
    cfg = compose_cfg(*LLC)
    seed_everything(0)
    torch.set_num_threads(1)
    agent = instantiate(cfg.algo, env=build_env(cfg), logger=RecordingLogger(), out_dir=str(out), device="cpu")
    agent.train(max_iters=1)
    OmegaConf.save(cfg, out / "config.yaml", resolve=True)  # what run.py writes beside the checkpoint
    return str(out / "model.pt")


def make_hlc(tmp_path, llc_file, *overrides, experiment="ase_hlc_humanoid_steering"):
    cfg = compose_cfg(f"experiment={experiment}", *HLC, f"algo.llc_model_file={llc_file}", *overrides)
    seed_everything(0)
    return instantiate(cfg.algo, env=build_env(cfg), logger=RecordingLogger(), out_dir=str(tmp_path), device="cpu")


def record_task_env_steps(agent):
    """Wrap the task env's step to keep each step's (action, reward, disc_obs)."""
    task_env, calls = agent.env.env, []
    step = task_env.step

    def recording_step(actions):
        obs, reward, done, info = step(actions)
        calls.append((actions.clone(), reward.clone(), info["disc_obs"].clone()))
        return obs, reward, done, info

    task_env.step = recording_step
    return calls


def rollout(agent):
    agent._start_segment()
    agent._rollout(SectionTimer(agent.device))


# ---------------------------------------------------------------- the latent action
def test_the_env_receives_the_low_level_action_of_the_unit_latent(tmp_path, llc_file):
    agent = make_hlc(tmp_path, llc_file)
    assert (agent.env.action_dim, agent.model.actor.log_std.shape[0]) == (LATENT_DIM, LATENT_DIM)
    calls = record_task_env_steps(agent)
    rollout(agent)
    s, llc = agent.storage, agent.llc
    assert len(calls) == s.num_steps
    for t, (env_action, _, _) in enumerate(calls):
        char_obs, raw = s.obs[t, :, : llc.obs_dim], s.action[t]
        z = raw / raw.norm(dim=-1, keepdim=True)
        with torch.no_grad():  # the low-level policy's mean action, by hand
            expected = llc.model.latent_action_distribution(llc.obs_normalizer.normalize(char_obs), z).mean
        torch.testing.assert_close(env_action, expected)
        torch.testing.assert_close(env_action, llc(char_obs, latents_from_actions(raw)))
        assert not torch.allclose(env_action, llc(char_obs, raw))  # the raw action is not a unit latent
    assert not torch.allclose(calls[0][0], calls[-1][0])
    # test episodes and playback act through the same wrapper, with the mean latent action
    obs = agent.env.reset()
    action = agent.policy_action(obs)
    torch.testing.assert_close(agent.env.low_level_action(obs, action), llc(obs[:, : llc.obs_dim],
                                                                            latents_from_actions(action)))


# ---------------------------------------------------------------- a latent held for llc_steps env steps
def record_task_env_calls(agent):
    """Wrap the task env's step to keep each call's (action, obs, reward, done, info)."""
    task_env, calls = agent.env.env, []
    step = task_env.step

    def recording_step(actions):
        obs, reward, done, info = step(actions)
        calls.append((actions.clone(), obs.clone(), reward.clone(), done.clone(), {k: v.clone() for k, v in info.items()}))
        return obs, reward, done, info

    task_env.step = recording_step
    return calls


def test_a_held_latent_drives_llc_steps_env_steps_and_its_sample_gets_their_mean_reward(tmp_path, llc_file):
    agent = make_hlc(tmp_path, llc_file, "algo.llc_steps=3", "algo.task_reward_weight=0.25",
                     "algo.style_reward_weight=0.5", "env.enable_early_termination=false")
    calls = record_task_env_calls(agent)
    rollout(agent)
    s, llc = agent.storage, agent.llc
    assert len(calls) == 3 * s.num_steps
    for t in range(s.num_steps):
        z = latents_from_actions(s.action[t])
        before = s.obs[t]
        for action, obs, _, done, _ in calls[3 * t: 3 * t + 3]:
            torch.testing.assert_close(action, llc(before[:, : llc.obs_dim], z))  # the same z on each step's obs
            assert (done == 0).all()
            before = obs
        torch.testing.assert_close(s.next_obs[t], before)
    task = torch.stack([c[2] for c in calls]).view(s.num_steps, 3, -1).mean(dim=1)
    style = torch.stack([llc.style_reward(c[4]["disc_obs"]) for c in calls]).view(s.num_steps, 3, -1).mean(dim=1)
    torch.testing.assert_close(s.reward, task)
    with torch.no_grad():
        agent.compute_rewards()
    torch.testing.assert_close(s.reward, 0.25 * task + 0.5 * style)


def test_an_episode_that_ends_inside_a_held_latent_ends_its_sample_there(tmp_path, llc_file):
    """Episodes of 6 env steps, latents held for 4: each ends on the second step of every second HLC step, whose
    sample carries that step's observation and end flag and the mean reward of its first two steps; the episode
    length and "episode/*" means are per env step."""
    agent = make_hlc(tmp_path, llc_file, "algo.llc_steps=4", "env.episode_length=0.2",
                     "env.enable_early_termination=false")
    assert agent.env.env.max_episode_steps == 6
    calls = record_task_env_calls(agent)
    rollout(agent)
    s = agent.storage
    assert len(calls) == 4 * s.num_steps
    counted = []  # (HLC step, call index) of the env steps each sample counts
    for t in range(s.num_steps):
        n = 4 if t % 2 == 0 else 2
        counted += [(t, 4 * t + j) for j in range(n)]
        last = calls[4 * t + n - 1]
        torch.testing.assert_close(s.next_obs[t], last[1])
        assert (s.done[t] == (DoneFlags.TIME if t % 2 else DoneFlags.NULL)).all()
        torch.testing.assert_close(s.reward[t], torch.stack([calls[4 * t + j][2] for j in range(n)]).mean(dim=0))
    summary = agent.train_episodes.summary()
    assert summary["episodes"] == agent.env.num_envs * s.num_steps // 2
    assert summary["episode_length"] == 6.0
    per_step = torch.stack([calls[i][4]["episode/reward_face"] for _, i in counted])  # a per-step metric
    assert float(summary["episode/reward_face"]) == pytest.approx(float(per_step.mean()), abs=1e-5)


def test_playback_shows_every_env_step_of_a_held_latent(tmp_path, llc_file):
    agent = make_hlc(tmp_path, llc_file, "algo.llc_steps=3")
    calls = record_task_env_calls(agent)
    decisions = []
    policy_action = agent.policy_action
    agent.policy_action = lambda obs: decisions.append(obs) or policy_action(obs)
    env_steps = policy_env_steps(agent, agent.env.reset())
    for frame in range(7):
        next(env_steps)
        assert len(calls) == frame + 1  # one env step per frame
    assert len(decisions) == 3  # a new latent at env steps 0, 3 and 6


# ---------------------------------------------------------------- the frozen low-level policy
def test_low_level_weights_stay_bit_identical_and_out_of_the_checkpoint(tmp_path, llc_file):
    agent = make_hlc(tmp_path, llc_file, "test_episodes=2", "algo.iters_per_output=2")
    before = {k: v.clone() for k, v in agent.llc.state_dict().items()}
    llc_params = {id(p) for p in agent.llc.parameters()}
    assert not any(id(p) in llc_params for phase in agent.phases for g in phase.optimizer.param_groups
                   for p in g["params"])
    agent.train(max_iters=2)
    row = agent.logger.rows[-1]
    for key in ("actor/loss", "critic/loss", "style/reward_mean", "style/reward_std", "hlc/action_norm"):
        assert math.isfinite(row[key]), key
    after = agent.llc.state_dict()
    assert before.keys() == after.keys()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed == []
    assert not agent.llc.training and not any(p.requires_grad for p in agent.llc.parameters())
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    assert state["low_level"]["model_file"] == llc_file and len(state["low_level"]["sha256"]) == 64
    n = sum(v.numel() for v in state["model"].values())
    assert n == sum(p.numel() for p in agent.model.state_dict().values())  # the HLC's own weights only


def test_a_checkpoint_is_refused_with_another_low_level_policy(tmp_path, llc_file):
    agent = make_hlc(tmp_path / "hlc", llc_file)
    agent.save(str(tmp_path / "hlc.pt"))
    other = tmp_path / "other_llc"
    other.mkdir()
    state = torch.load(llc_file, weights_only=True)
    state["model"]["actor.log_std"] += 1.0
    torch.save(state, other / "model.pt")
    (other / "config.yaml").write_text(Path(llc_file).with_name("config.yaml").read_text())
    with pytest.raises(CheckpointError, match="low-level policy"):
        make_hlc(tmp_path / "hlc2", str(other / "model.pt")).load(str(tmp_path / "hlc.pt"))
    make_hlc(tmp_path / "hlc3", llc_file).load(str(tmp_path / "hlc.pt"))  # the same one loads


# ---------------------------------------------------------------- the reward
def test_style_reward_is_a_weighted_term(tmp_path, llc_file):
    agent = make_hlc(tmp_path, llc_file, "algo.task_reward_weight=0.25", "algo.style_reward_weight=0.5")
    calls = record_task_env_steps(agent)
    rollout(agent)
    env_reward = torch.stack([reward for _, reward, _ in calls])
    style = torch.stack([agent.llc.style_reward(disc_obs) for _, _, disc_obs in calls])
    assert style.abs().sum() > 0 and env_reward.abs().sum() > 0
    with torch.no_grad():
        stats = agent.compute_rewards()
    torch.testing.assert_close(agent.storage.reward, 0.25 * env_reward + 0.5 * style)
    torch.testing.assert_close(stats["style/reward_mean"], style.mean())


def test_style_reward_is_absent_and_not_computed_at_weight_zero(tmp_path, llc_file):
    agent = make_hlc(tmp_path, llc_file, "algo.task_reward_weight=0.75", "algo.style_reward_weight=0",
                     "test_episodes=0")

    def forbidden(disc_obs):
        raise AssertionError("style reward computed at weight 0")

    agent.llc.style_reward = forbidden
    calls = record_task_env_steps(agent)
    rollout(agent)
    assert STYLE_REWARD not in agent.storage.extras
    env_reward = torch.stack([reward for _, reward, _ in calls])
    with torch.no_grad():
        stats = agent.compute_rewards()
    torch.testing.assert_close(agent.storage.reward, 0.75 * env_reward)
    assert not any(key.startswith("style/") for key in stats)
    agent.train(max_iters=1)
    assert not any(key.startswith("style/") for key in agent.logger.rows[-1])


# ---------------------------------------------------------------- a low-level policy that does not fit
def test_a_missing_or_mismatched_low_level_policy_is_refused(tmp_path, llc_file):
    # Hydra wraps the constructor's error, keeping its type and message
    with pytest.raises(InstantiationException, match="FileNotFoundError.*algo.llc_model_file .*nowhere.pt"):
        make_hlc(tmp_path, str(tmp_path / "nowhere.pt"))
    with pytest.raises(InstantiationException, match=r"env.global_obs: low-level run False, this run True"):
        make_hlc(tmp_path, llc_file, "env.global_obs=true")
    with pytest.raises(InstantiationException, match=r"env.key_bodies"):
        make_hlc(tmp_path, llc_file, "env.key_bodies=[head,right_hand]")
    with pytest.raises(InstantiationException, match=r"env.num_disc_obs_steps"):
        make_hlc(tmp_path, llc_file, "env.num_disc_obs_steps=5")
    make_hlc(tmp_path, llc_file, "env.num_disc_obs_steps=5", "algo.style_reward_weight=0")  # no disc, no check
    with pytest.raises(InstantiationException, match="TypeError.*AMPEnv"):
        cfg = compose_cfg("experiment=deepmimic_humanoid_ppo", *HLC, "algo=ase_hlc", f"algo.llc_model_file={llc_file}")
        instantiate(cfg.algo, env=build_env(cfg), logger=RecordingLogger(), out_dir=str(tmp_path), device="cpu")


# ---------------------------------------------------------------- the presets from the command line
def run_cli(*args):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("SLURM_RESTART_COUNT", None)
    return subprocess.run([sys.executable, "-m", "mimickit.run", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


TASK_METRICS = {"ase_hlc_humanoid_location": ("episode/tar_reached", "episode/tar_dist"),
                "ase_hlc_humanoid_steering": ("episode/speed_err", "episode/heading_err_deg")}


@pytest.mark.parametrize("experiment", sorted(TASK_METRICS))
def test_preset_trains_logs_saves_and_loads_in_test_mode(experiment, tmp_path, llc_file):
    train_dir, test_dir = tmp_path / "train", tmp_path / "test"
    out = run_cli(f"experiment={experiment}", *HLC, f"algo.llc_model_file={llc_file}", "env.episode_length=0.2",
                  "max_iters=2", "algo.iters_per_output=1", "test_episodes=2", "logger.txt.columns=all",  # losses too
                  f"hydra.run.dir={train_dir}")
    assert out.returncode == 0, out.stderr[-3000:]
    log = read_txt_log(str(train_dir / "log.txt"))
    for key in ("style/reward_mean", "hlc/action_norm", "train/return", "train/episode_length",
                *(p + k for k in TASK_METRICS[experiment] for p in ("train/", "test/"))):
        assert len(log.get(key, [])) == 2 and all(math.isfinite(v) for v in log[key]), (key, sorted(log))
    state = torch.load(train_dir / "model.pt", weights_only=True)
    assert {"model", "obs_normalizer", "low_level"} <= set(state) and "discriminator" not in state

    out = run_cli(f"experiment={experiment}", *HLC, "mode=test", "test_episodes=4", "video=true", "video_steps=3",
                  "recorder.width=64", "recorder.height=48", f"model_file={train_dir / 'model.pt'}",
                  f"hydra.run.dir={test_dir}")
    assert out.returncode == 0, out.stderr[-3000:]
    metrics = json.loads((test_dir / "metrics.json").read_text())
    assert metrics["episodes"] >= 4 and all(key in metrics for key in TASK_METRICS[experiment])
    assert len(list(test_dir.glob("policy.*"))) == 1
