"""A run directory with a checkpoint is never trained into afresh; resume=true continues the saved run and refuses
overrides that would change it. Driven through the CLI, as a user would."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mimickit.resume import checkpoint_key_overrides, with_checkpoint_keys

ROOT = Path(__file__).resolve().parents[1]
FAST = ["sim.nthread=1", "algo.steps_per_iter=4", "test_episodes=0", "algo.iters_per_output=1",
        "algo.model.actor_hidden_dims=[32]", "algo.model.critic_hidden_dims=[32]"]


def run_cli(run_dir, *overrides, env=None, fast=True):
    """The CLI with `overrides` (after FAST's unless `fast` is False: a command as bare as a user's)."""
    base = {k: v for k, v in os.environ.items() if k != "SLURM_RESTART_COUNT"}  # not requeued unless asked
    env = {**base, "PYTHONUNBUFFERED": "1", **(env or {})}
    command = [sys.executable, "-m", "mimickit.run", *(FAST if fast else []), *overrides, f"hydra.run.dir={run_dir}"]
    return subprocess.run(command, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def saved(run_dir):
    return yaml.safe_load((run_dir / "config.yaml").read_text())


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """A finished 2-iteration run with 4 envs (not the default 64) on the procedural clip."""
    run_dir = tmp_path_factory.mktemp("run")
    out = run_cli(run_dir, "num_envs=4", "max_iters=2")
    assert out.returncode == 0, out.stderr
    return run_dir


def copy_run(first_run, tmp_path):
    return Path(shutil.copytree(first_run, tmp_path / "run"))


def test_training_into_a_run_with_a_checkpoint_is_refused(first_run, tmp_path):
    run_dir = copy_run(first_run, tmp_path)
    before = (run_dir / "config.yaml").read_text()
    out = run_cli(run_dir, "num_envs=4", "max_iters=3")
    assert out.returncode != 0
    assert "already holds a checkpoint" in out.stderr and "resume=true" in out.stderr
    assert out.stderr.count("Traceback") == 1  # each error is printed once
    assert (run_dir / "config.yaml").read_text() == before


def test_resume_keeps_the_saved_config_without_repeating_overrides(first_run, tmp_path):
    run_dir = copy_run(first_run, tmp_path)
    out = run_cli(run_dir, "resume=true", "max_iters=3", "algo.graph_update=true")  # how to update, not what
    assert out.returncode == 0, out.stderr
    cfg = saved(run_dir)
    assert cfg["num_envs"] == 4 and cfg["sim"]["num_envs"] == 4 and cfg["max_iters"] == 3 and cfg["resume"]
    assert cfg["algo"]["graph_update"] is True
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["iteration"] == 3 and metrics["samples"] == 3 * 4 * 4


def test_resume_refuses_overrides_that_change_the_run(first_run, tmp_path):
    run_dir = copy_run(first_run, tmp_path)
    before = (run_dir / "config.yaml").read_text()
    out = run_cli(run_dir, "resume=true", "max_iters=3", "motion=walk", "num_envs=8",
                  "algo.model.actor_hidden_dims=[64]")
    assert out.returncode != 0
    for line in ("num_envs: 4 (saved run) -> 8 (now)", "algo.model.actor_hidden_dims: [32] (saved run) -> [64] (now)",
                 "motion.motion_file: data/motions/procedural/humanoid_procedural.pkl (saved run)"):
        assert line in out.stderr, out.stderr
    assert "max_iters" not in out.stderr.split("would change it:")[1].split("Only")[0]
    assert (run_dir / "config.yaml").read_text() == before


def test_explicit_default_value_still_counts_as_a_change(first_run, tmp_path):
    run_dir = copy_run(first_run, tmp_path)
    out = run_cli(run_dir, "resume=true", "max_iters=3", "num_envs=64")  # 64 is the default, the run used 4
    assert out.returncode != 0 and "num_envs: 4 (saved run) -> 64 (now)" in out.stderr


def test_a_key_added_since_the_run_was_saved_may_be_set_on_resume(first_run, tmp_path):
    """A key the saved config lacks (added to the code since) takes the command line's value on resume, not a
    refusal: it changes nothing the run was trained with."""
    run_dir = copy_run(first_run, tmp_path)
    cfg = saved(run_dir)
    del cfg["algo"]["unstable_warning_share"]
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg))
    out = run_cli(run_dir, "resume=true", "max_iters=3", "algo.unstable_warning_share=0.5")
    assert out.returncode == 0, out.stderr[-3000:]
    assert saved(run_dir)["algo"]["unstable_warning_share"] == 0.5


def test_resume_without_a_checkpoint_is_an_error(tmp_path):
    out = run_cli(tmp_path, "resume=true", "max_iters=1")
    assert out.returncode != 0 and "holds no checkpoint" in out.stderr


def test_a_requeued_slurm_job_resumes_by_itself(first_run, tmp_path):
    run_dir = copy_run(first_run, tmp_path)
    out = run_cli(run_dir, "num_envs=4", "max_iters=3", env={"SLURM_RESTART_COUNT": "1"})
    assert out.returncode == 0, out.stderr
    assert json.loads((run_dir / "metrics.json").read_text())["iteration"] == 3


def test_test_mode_uses_the_checkpoints_run_config(first_run, tmp_path):
    """The training run used 32-unit nets and 4 envs: a bare `mode=test model_file=...` must build the same nets
    (the defaults are 1024-512 and would not load) and warn only when asked to test on another clip."""
    out = run_cli(tmp_path / "test", "mode=test", "test_episodes=2", f"model_file={first_run / 'model.pt'}")
    assert out.returncode == 0, out.stderr[-3000:]
    cfg = saved(tmp_path / "test")
    assert cfg["algo"]["model"]["actor_hidden_dims"] == [32] and cfg["num_envs"] == 4 and cfg["sim"]["num_envs"] == 4
    assert cfg["mode"] == "test" and cfg["test_episodes"] == 2 and "trained on" not in out.stdout + out.stderr
    out = run_cli(tmp_path / "other", "mode=test", "test_episodes=2", "num_envs=2", "motion=walk",
                  f"model_file={first_run / 'model.pt'}")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "trained on data/motions/procedural/humanoid_procedural.pkl" in out.stdout + out.stderr
    cfg = saved(tmp_path / "other")
    assert cfg["num_envs"] == 2 and cfg["sim"]["num_envs"] == 2  # interpolations follow the command line


def test_test_mode_on_another_engine_keeps_the_saved_physics(first_run, tmp_path):
    """A checkpoint trained with sim=mjwarp (GPU) at 240 Hz without passive damping is watched with sim=mujoco on a
    laptop: mjwarp's own keys (nconmax, graph, ...) must not reach the CPU engine, the physics it was trained on
    must (the CPU option's 120 Hz and damping would be another character), and the command line still wins."""
    run = copy_run(first_run, tmp_path)
    cfg = saved(run)
    cfg["sim"] = yaml.safe_load((ROOT / "conf/sim/mjwarp.yaml").read_text())
    cfg["sim"].update(sim_freq=240, passive_damping_frac=0.0)
    cfg["device"] = "cuda"
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    out = run_cli(tmp_path / "test", "mode=test", "test_episodes=1", "sim=mujoco", "device=cpu",
                  f"model_file={run / 'model.pt'}")
    assert out.returncode == 0, out.stderr[-3000:]
    tested = saved(tmp_path / "test")
    assert tested["sim"]["_target_"].endswith("MujocoEngine") and "nconmax" not in tested["sim"]
    assert tested["sim"]["num_envs"] == 4 and tested["device"] == "cpu"
    assert tested["sim"]["sim_freq"] == 240 and tested["sim"]["passive_damping_frac"] == 0.0
    out = run_cli(tmp_path / "test_120", "mode=test", "test_episodes=1", "sim=mujoco", "device=cpu",
                  "sim.sim_freq=120", f"model_file={run / 'model.pt'}")
    assert out.returncode == 0, out.stderr[-3000:]
    tested = saved(tmp_path / "test_120")
    assert tested["sim"]["sim_freq"] == 120 and tested["sim"]["passive_damping_frac"] == 0.0


AMP_KEY_BODIES = ["head", "right_hand", "left_hand", "right_foot", "left_foot"]  # conf/env/amp.yaml's literal list


@pytest.fixture(scope="module")
def amp_run(tmp_path_factory):
    """A finished 1-iteration AMP run (experiment=amp_humanoid_locomotion, 4 envs, 32-unit nets)."""
    run_dir = tmp_path_factory.mktemp("amp")
    out = run_cli(run_dir, "experiment=amp_humanoid_locomotion", "num_envs=4", "max_iters=1",
                  "algo.discriminator.hidden_dims=[32]")
    assert out.returncode == 0, out.stderr[-3000:]
    assert saved(run_dir)["env"]["key_bodies"] == AMP_KEY_BODIES
    return run_dir


def test_an_amp_checkpoint_is_tested_without_repeating_experiment(amp_run, tmp_path):
    """The default env (deepmimic) has `key_bodies: ${robot.key_bodies}` (4 bodies), AMP's env a literal list of 5:
    a bare test command must keep the saved list (137 policy inputs instead of 140 would not load), keep the saved
    AMP env and agent, and still restore the AMP options' own interpolations (sim.num_envs, algo.test_episodes)."""
    out = run_cli(tmp_path / "test", "mode=test", "test_episodes=1", "num_envs=2",
                  f"model_file={amp_run / 'model.pt'}", fast=False)
    assert out.returncode == 0, out.stderr[-3000:]
    tested, trained = saved(tmp_path / "test"), saved(amp_run)
    assert tested["env"] == trained["env"] and tested["env"]["key_bodies"] == AMP_KEY_BODIES
    assert tested["algo"]["_target_"].endswith("AMPAgent") and tested["algo"]["discriminator"]["hidden_dims"] == [32]
    assert tested["num_envs"] == 2 and tested["sim"]["num_envs"] == 2  # interpolations of the saved options follow
    assert tested["test_episodes"] == 1 and tested["algo"]["test_episodes"] == 1


def test_an_amp_run_resumes_without_repeating_experiment(amp_run, tmp_path):
    run_dir = copy_run(amp_run, tmp_path)
    out = run_cli(run_dir, "resume=true", "max_iters=2", "test_episodes=1", fast=False)
    assert out.returncode == 0, out.stderr[-3000:]
    cfg = saved(run_dir)
    assert cfg["env"]["key_bodies"] == AMP_KEY_BODIES and cfg["env"]["_target_"].endswith("AMPEnv")
    assert cfg["max_iters"] == 2 and cfg["algo"]["test_episodes"] == 1
    assert json.loads((run_dir / "metrics.json").read_text())["iteration"] == 2


def test_a_saved_literal_that_differs_from_the_interpolation_stays(first_run, tmp_path):
    """A run whose key_bodies were set on its command line (not `${robot.key_bodies}` any more) and whose
    periodic tests were decoupled from test_episodes is tested with its own values, whatever the command line
    changes of the keys those interpolations would point to."""
    run = copy_run(first_run, tmp_path)
    cfg = saved(run)
    cfg["env"]["key_bodies"], cfg["algo"]["test_episodes"] = ["right_hand", "left_hand"], 5
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    out = run_cli(tmp_path / "test", "mode=test", "test_episodes=1", "robot.key_bodies=[right_foot,left_foot]",
                  f"model_file={run / 'model.pt'}", fast=False)
    assert out.returncode == 0, out.stderr[-3000:]
    tested = saved(tmp_path / "test")
    assert tested["env"]["key_bodies"] == ["right_hand", "left_hand"] and tested["algo"]["test_episodes"] == 5
    assert tested["robot"]["key_bodies"] == ["right_foot", "left_foot"] and tested["test_episodes"] == 1


def test_a_run_saved_before_a_logger_setting_existed_resumes_and_tests(first_run, tmp_path):
    """A config.yaml written before logger.txt.columns (and short_columns) existed: resume and test mode give the
    RunLogger node today's values for the keys it lacks, and keep the ones it has (column_width)."""
    run = copy_run(first_run, tmp_path)
    cfg = saved(run)
    cfg["logger"]["txt"] = {"filename": "log.txt", "column_width": 24, "step_key": "samples"}
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    out = run_cli(tmp_path / "test", "mode=test", "test_episodes=1", f"model_file={run / 'model.pt'}", fast=False)
    assert out.returncode == 0, out.stderr[-3000:]
    out = run_cli(run, "resume=true", "max_iters=3", fast=False)
    assert out.returncode == 0, out.stderr[-3000:]
    txt = saved(run)["logger"]["txt"]
    assert txt["columns"] == "short" and "train/return" in txt["short_columns"] and txt["column_width"] == 24


def test_a_run_of_another_env_class_saved_before_an_env_setting_existed_is_tested_with_its_defaults(tmp_path):
    """An AMP run's config.yaml from before env.contact_force_source existed, tested without experiment= (so the
    default env composed now is DeepMimic's): the AMP env's missing keys come from conf/env/amp.yaml, its own values
    stay."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from mimickit.config import register_configs
    from mimickit.resume import checkpoint_config

    def compose_cfg(*overrides):
        register_configs()
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            return compose(config_name="config", overrides=list(overrides))

    old = compose_cfg("experiment=amp_humanoid_locomotion", "env.contact_height=0.2")
    OmegaConf.set_struct(old, False)
    del old.env["contact_force_source"], old.env["contact_force_threshold"]
    (tmp_path / "config.yaml").write_text(OmegaConf.to_yaml(old, resolve=True))
    (tmp_path / "model.pt").write_bytes(b"")
    overrides = ["mode=test", f"model_file={tmp_path / 'model.pt'}"]
    merged = checkpoint_config(compose_cfg(*overrides), overrides, compose_cfg())
    env = OmegaConf.load(ROOT / "conf" / "env" / "amp.yaml")
    assert merged.env._target_ == env._target_ and merged.env.contact_height == 0.2
    assert merged.env.contact_force_source == env.contact_force_source
    assert merged.env.contact_force_threshold == env.contact_force_threshold


def test_a_key_only_the_checkpoints_options_have_is_set_without_experiment(amp_run, tmp_path):
    """Hydra composes the command line on the default options (the PPO agent) before the saved AMP config replaces
    them: `algo.disc_reward_weight` exists only in the latter, and is still taken, as in a bare test command."""
    out = run_cli(tmp_path / "test", "mode=test", "test_episodes=1", "num_envs=2", "algo.disc_reward_weight=0.25",
                  f"model_file={amp_run / 'model.pt'}", fast=False)
    assert out.returncode == 0, out.stderr[-3000:]
    assert saved(tmp_path / "test")["algo"]["disc_reward_weight"] == 0.25
    assert saved(amp_run)["algo"]["disc_reward_weight"] != 0.25


def test_only_overrides_of_the_saved_configs_keys_are_forced(tmp_path):
    (tmp_path / "config.yaml").write_text("env:\n  default_reset_prob: 0.5\nsim:\n  nthread: 1\n")
    model_file = str(tmp_path / "model.pt")
    args = ["env.default_reset_prob=0", "sim=mujoco", "env.unknown=1", "+extra.key=2", "hydra.run.dir=d",
            "sim.nthread=2"]
    assert checkpoint_key_overrides(model_file, args) == [
        "++env.default_reset_prob=0", "sim=mujoco", "env.unknown=1", "+extra.key=2", "hydra.run.dir=d",
        "++sim.nthread=2"]
    assert with_checkpoint_keys(["mode=test", f"model_file={model_file}", "sim.nthread=2"])[-1] == "++sim.nthread=2"
    for training in (["sim.nthread=2"], [f"model_file={model_file}", "sim.nthread=2"]):  # mode=train: as given
        assert with_checkpoint_keys(training) == training
