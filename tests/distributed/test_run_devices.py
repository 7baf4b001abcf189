"""`python -m mimickit.run devices=[cpu,cpu]`: two spawned workers train a tiny DeepMimic run into one run
directory (rank 0's files), and a rerun resumes from its checkpoint."""
import os
import subprocess
import sys
from pathlib import Path

from mimickit.loggers import read_txt_log
from mimickit.utils.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
NUM_ENVS, STEPS = 4, 4
TINY = ["experiment=deepmimic_humanoid_ppo", "motion=procedural_walk", f"num_envs={NUM_ENVS}", "devices=[cpu,cpu]",
        "test_episodes=2", "algo.iters_per_output=1", f"algo.steps_per_iter={STEPS}",
        "algo.model.actor_hidden_dims=[32]", "algo.model.critic_hidden_dims=[32]", "env.episode_length=0.5",
        "sim.nthread=1", "logger.progress=false"]


def _train(run_dir, max_iters, *overrides):
    result = subprocess.run([sys.executable, "-m", "mimickit.run", *TINY, f"max_iters={max_iters}", *overrides,
                             f"hydra.run.dir={run_dir}"], cwd=ROOT, capture_output=True, text=True, timeout=180,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stderr


def test_two_workers_train_and_resume_into_one_run_directory(tmp_path):
    run_dir = tmp_path / "run"
    log = _train(run_dir, max_iters=2)
    assert "worker 0 of 2 on cpu (gloo): 2 envs" in log and "worker 1 of 2 on cpu (gloo): 2 envs" in log
    assert {"config.yaml", "log.txt", "metrics.json", "model.pt"} <= set(os.listdir(run_dir))
    rows = read_txt_log(str(run_dir / "log.txt"))
    assert list(rows["iteration"]) == [1, 2]  # one writer: no duplicate rows
    assert list(rows["samples"]) == [NUM_ENVS * STEPS, 2 * NUM_ENVS * STEPS]  # totals over both workers
    assert load_checkpoint(run_dir / "model.pt")["sample_count"] == 2 * NUM_ENVS * STEPS

    log = _train(run_dir, 3, "resume=true")  # both workers resume from rank 0's checkpoint
    assert "resumed from" in log
    rows = read_txt_log(str(run_dir / "log.txt"))
    assert list(rows["iteration"]) == [1, 2, 3]
    assert load_checkpoint(run_dir / "model.pt")["iteration"] == 3
