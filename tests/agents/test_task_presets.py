"""The AMP task presets end to end on the CPU engine: each trains a few iterations, logs the task metrics the GPU
acceptance reads, saves, and loads in test mode, recording a short video with the task markers."""
import json
import subprocess
import sys

import pytest
import torch

from mimickit.loggers import read_txt_log
from test_adversarial import ROOT, TINY, pytestmark, run_cli  # noqa: F401  (pytestmark: needs the converted clips)

TASK_METRICS = {
    "amp_humanoid_location": ("episode/tar_reached", "episode/tar_final_dist", "episode/tar_dist",
                              "episode/reward_pos", "episode/reward_vel", "episode/reward_face"),
    "amp_humanoid_steering": ("episode/speed_err", "episode/heading_err_deg", "episode/reward_vel",
                              "episode/reward_face"),
}
UPRIGHT = ("episode/root_height", "episode/tilt_deg")


@pytest.mark.parametrize("experiment", sorted(TASK_METRICS))
def test_task_preset_trains_logs_saves_and_loads_in_test_mode(experiment, tmp_path):
    train_dir, test_dir = tmp_path / "train", tmp_path / "test"
    # short episodes, so that some end (and are logged) within two iterations of 16 steps
    out = run_cli(f"experiment={experiment}", *TINY, "env.episode_length=0.5", "max_iters=2",
                  "algo.iters_per_output=1", "test_episodes=2", "logger.txt.columns=all",  # reward terms too
                  f"hydra.run.dir={train_dir}")
    assert out.returncode == 0, out.stderr[-3000:]
    log = read_txt_log(str(train_dir / "log.txt"))
    for key in (*TASK_METRICS[experiment], *UPRIGHT):
        for prefix in ("train/", "test/"):
            assert len(log.get(prefix + key, [])) == 2, (prefix + key, sorted(log))
    assert {"disc/accuracy", "disc/reward_mean", "actor/loss"} <= set(log)
    # the env reward (train/return) is the task reward alone, in [0, 1] per step
    assert 0.0 < log["train/return"][-1] <= log["train/episode_length"][-1]
    state = torch.load(train_dir / "model.pt", weights_only=True)
    assert {"discriminator", "disc_normalizer", "optimizer/disc"} <= set(state)

    out = run_cli(f"experiment={experiment}", *TINY, "mode=test", "test_episodes=4", "video=true", "video_steps=3",
                  "recorder.width=64", "recorder.height=48", f"model_file={train_dir / 'model.pt'}",
                  f"hydra.run.dir={test_dir}")
    assert out.returncode == 0, out.stderr[-3000:]
    metrics = json.loads((test_dir / "metrics.json").read_text())
    assert metrics["episodes"] >= 4 and all(key in metrics for key in TASK_METRICS[experiment])
    assert len(list(test_dir.glob("policy.*"))) == 1  # the video, its markers drawn (tests/render/test_task_markers.py)


def test_steering_speeds_reports_each_target_speed(tmp_path):
    """scripts/steering_speeds.py: a row per target speed, each the test of the policy with every target at that
    speed, with the run's saved config (its network sizes not repeated; CPU MuJoCo is deterministic: a test run by
    hand, the preset and sizes named, reads the same)."""
    train_dir = tmp_path / "train"
    out = run_cli("experiment=amp_humanoid_steering", *TINY, "max_iters=1", "test_episodes=0",
                  f"hydra.run.dir={train_dir}")
    assert out.returncode == 0, out.stderr[-3000:]
    network = [o for o in TINY if not o.startswith("num_envs=")]  # the run's sizes (test runs take num_envs)
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "steering_speeds.py"), str(train_dir / "model.pt"),
                           "--speeds", "1.0", "3.0", "--episodes", "4"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    header, *rows = done.stdout.strip().splitlines()
    assert header.split() == ["target", "(m/s)", "root_speed", "speed_err", "speed_err_se", "heading_err_deg",
                              "episode_length"]
    table = [[float(x) for x in row.split()] for row in rows]
    assert [row[0] for row in table] == [1.0, 3.0]

    test_dir = tmp_path / "test"
    out = run_cli("experiment=amp_humanoid_steering", *network, "mode=test", "num_envs=4", "test_episodes=4",
                  "env.tar_speed_min=3.0", "env.tar_speed_max=3.0", f"model_file={train_dir / 'model.pt'}",
                  f"hydra.run.dir={test_dir}")
    assert out.returncode == 0, out.stderr[-3000:]
    metrics = json.loads((test_dir / "metrics.json").read_text())
    expected = [metrics["episode/root_speed"], metrics["episode/speed_err"],
                metrics["standard_error"]["episode/speed_err"], metrics["episode/heading_err_deg"],
                metrics["episode_length"]]
    assert table[1][1:] == pytest.approx(expected, abs=1e-3)
