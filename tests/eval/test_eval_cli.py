"""mode=eval end to end on the CPU, as a user runs it: train a tiny checkpoint, then evaluate it on two clips."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from mimickit.config import register_configs
from mimickit.resume import checkpoint_config, merge_into_saved

ROOT = Path(__file__).resolve().parents[2]
TINY = ["sim.nthread=1", "algo.steps_per_iter=4", "test_episodes=0", "algo.iters_per_output=1",
        "algo.model.actor_hidden_dims=[32]", "algo.model.critic_hidden_dims=[32]"]
CLIPS = ["humanoid_walk", "humanoid_jog"]


def run_cli(run_dir, *overrides):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "mimickit.run", *overrides, f"hydra.run.dir={run_dir}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("train")
    out = run_cli(run_dir, *TINY, "motion=walk", "num_envs=4", "max_iters=1")
    assert out.returncode == 0, out.stderr[-3000:]
    return run_dir / "model.pt"


@pytest.fixture(scope="module")
def two_clips(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "two_clips.yaml"
    path.write_text(yaml.safe_dump({"motions": [
        {"file": str(ROOT / "data/motions/humanoid" / f"{clip}.pkl"), "weight": 1.0} for clip in CLIPS]}))
    return path


def read_rows(run_dir):
    with open(run_dir / "eval.csv") as f:
        return list(csv.DictReader(f))


def test_eval_writes_a_row_per_clip_from_the_checkpoints_config(checkpoint, two_clips, tmp_path):
    out = run_cli(tmp_path / "eval", "mode=eval", f"model_file={checkpoint}", f"motion.motion_file={two_clips}",
                  "eval.random_starts=2")
    assert out.returncode == 0, out.stderr[-3000:]
    run_dir = tmp_path / "eval"
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert cfg["mode"] == "eval" and cfg["algo"]["model"]["actor_hidden_dims"] == [32]  # the checkpoint's nets
    assert cfg["num_envs"] == 4 and cfg["eval"]["random_starts"] == 2

    rows = read_rows(run_dir)
    assert [r["clip"] for r in rows] == [*CLIPS, "mean"]
    for row in rows[:2]:
        assert int(row["episodes"]) == 3
        assert 0.0 <= float(row["success_rate"]) <= 1.0
        for key in ("body_pos_err_mm", "mpjpe_mm", "joint_angle_err_rad", "root_drift_m"):
            assert 0.0 < float(row[key]) < {"joint_angle_err_rad": 3.2}.get(key, 2000.0), (key, row[key])
        assert float(row["mpjpe_mm"]) <= float(row["max_body_pos_err_mm"]) + 1e-3 or float(row["success_rate"]) < 1
    assert int(rows[2]["episodes"]) == 6

    md = (run_dir / "eval.md").read_text()
    assert all(f"| {clip} |" in md for clip in CLIPS) and "**mean**" in md and "threshold 0.5 m" in md
    assert (run_dir / "eval_per_frame.png").read_bytes()[:4] == b"\x89PNG"
    per_frame = list(csv.reader(open(run_dir / "eval_per_frame.csv")))
    assert [r[0] for r in per_frame[1:]] == CLIPS and len(per_frame[0]) == 1 + 20
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["eval/episodes"] == 6
    assert metrics["eval/body_pos_err_mm"] == pytest.approx(float(rows[2]["body_pos_err_mm"]), rel=1e-6)

    # the same episodes batched over fewer envs (3 batches of 2, reordered by length) give the same table
    out = run_cli(tmp_path / "eval2", "mode=eval", f"model_file={checkpoint}", f"motion.motion_file={two_clips}",
                  "eval.random_starts=2", "num_envs=2")
    assert out.returncode == 0, out.stderr[-3000:]
    for row, again in zip(rows, read_rows(tmp_path / "eval2")):
        assert row["clip"] == again["clip"] and row["success_rate"] == again["success_rate"]
        for key in ("body_pos_err_mm", "mpjpe_mm", "joint_angle_err_rad", "root_drift_m"):
            assert float(again[key]) == pytest.approx(float(row[key]), rel=1e-3, abs=1e-4), key


def test_eval_needs_a_checkpoint_and_a_tracking_env(tmp_path, checkpoint):
    out = run_cli(tmp_path / "a", "mode=eval")
    assert out.returncode != 0 and "mode=eval needs model_file" in out.stderr
    out = run_cli(tmp_path / "b", "mode=eval", "env=amp", f"model_file={checkpoint}")
    assert out.returncode != 0 and "mode=eval evaluates motion tracking" in out.stderr


def test_a_run_saved_before_mode_eval_existed_gets_todays_eval_settings(tmp_path):
    """A run directory's config.yaml without the `eval` key (written before it existed) gets the settings of
    conf/eval when resumed, and the command line's when its checkpoint is evaluated (mimickit.resume)."""
    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        defaults = compose(config_name="config")
        overrides = ["mode=eval", f"model_file={tmp_path / 'model.pt'}", "eval.seed=3"]
        cfg = compose(config_name="config", overrides=overrides)
    saved = OmegaConf.to_container(defaults, resolve=True, enum_to_str=True)
    del saved["eval"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(saved))
    resumed, refused = merge_into_saved(OmegaConf.create(saved), defaults, keys=set())
    assert refused == [] and resumed.eval == defaults.eval
    evaluated = checkpoint_config(cfg, overrides, defaults)
    assert evaluated.eval.seed == 3 and evaluated.eval.random_starts == defaults.eval.random_starts
