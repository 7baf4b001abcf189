"""DeepMimic on the G1 end to end on the CPU (experiment=deepmimic_g1_ppo on a retargeted walk), and the check at
start that the clips' character is the simulated one."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from mimickit.config import register_configs
from mimickit.run import build_env, validate
from mimickit.utils.seeding import seed_everything

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "agents"))
from pendulum_agents import CONF, RecordingLogger  # noqa: E402

TINY = ["num_envs=8", "sim.nthread=1", "algo.steps_per_iter=16", "algo.iters_per_output=2", "test_episodes=2",
        "algo.model.actor_hidden_dims=[64]", "algo.model.critic_hidden_dims=[64]"]


def compose_cfg(*overrides):
    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def test_deepmimic_trains_on_the_g1(retargeted_walk, tmp_path):
    clip, _ = retargeted_walk
    cfg = compose_cfg("experiment=deepmimic_g1_ppo", f"motion.motion_file={clip}", *TINY)
    validate(cfg)
    seed_everything(0)
    logger = RecordingLogger()
    env = build_env(cfg)
    assert env.engine.num_dofs == 29 and env.action_dim == 29
    agent = instantiate(cfg.algo, env=env, logger=logger, out_dir=str(tmp_path), device="cpu")
    agent.train(max_iters=2)
    assert [row["iteration"] for row in logger.rows] == [1, 2]
    last = logger.records[-1]
    assert torch.isfinite(torch.tensor([last["actor/loss"], last["critic/loss"]])).all()
    # an untrained policy on the walk's reference: a few dozen steps before the pose drifts 1 m, 0.1-0.5 m error
    assert 5 < last["test/episode_length"] <= 300
    assert 0.02 < last["test/episode/tracking_error"] < 0.6
    assert (tmp_path / "model.pt").is_file()


def test_a_clip_of_another_character_is_refused_by_name(retargeted_walk):
    """The humanoid simulated with the G1's clips: the error names the bodies and joints that differ."""
    clip, _ = retargeted_walk
    cfg = compose_cfg("experiment=deepmimic_humanoid_ppo", "motion=g1_walk", f"motion.motion_file={clip}", *TINY)
    with pytest.raises(InstantiationException) as error:  # Hydra's wrapper of the env's ValueError
        build_env(cfg)
    text = str(error.value)
    assert "is not the simulated one" in text
    assert "joints only the clips' character has: ['left_hip_pitch_joint'" in text
    assert "joints only the engine's character has: ['abdomen_x'" in text
    assert "bodies: the clips' character has 30, the engine's 15" in text


def test_the_same_names_in_another_order_are_refused():
    from mimickit.envs.clip_env import compute_name_mismatches

    lines = compute_name_mismatches("joints", ["a", "b", "c"], ["a", "c", "b"])
    assert "same names in another order" in lines[1] and "1: b (clips) vs c (engine)" in lines[1]
    assert compute_name_mismatches("joints", ["a"], ["a"]) == []


def test_a_g1_checkpoint_is_tested_with_the_g1s_gains(tmp_path):
    """mode=test with a G1 run's checkpoint, without robot=g1 on the command line: the saved robot, gains included,
    wins over today's default robot (whose pd_gains is null)."""
    from omegaconf import OmegaConf

    from mimickit.resume import checkpoint_config

    saved = compose_cfg("experiment=deepmimic_g1_ppo")
    (tmp_path / "config.yaml").write_text(OmegaConf.to_yaml(saved, resolve=True))
    (tmp_path / "model.pt").write_bytes(b"")
    overrides = ["mode=test", f"model_file={tmp_path / 'model.pt'}"]
    merged = checkpoint_config(compose_cfg(*overrides), overrides, compose_cfg())
    gains = OmegaConf.to_container(saved.robot.pd_gains)
    assert OmegaConf.to_container(merged.robot.pd_gains) == gains
    assert OmegaConf.to_container(merged.sim, resolve=True)["pd_gains"] == gains
