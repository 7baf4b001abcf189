"""Hydra sweeps of real (tiny) trainings on a real SLURM cluster through hydra-submitit-launcher.

Each test launches `python -m mimickit.run -m hydra/launcher=slurm ...` as a user would, then checks the
job directories, SLURM's accounting and scripts/sweep_summary.py.
"""
from __future__ import annotations

import csv
import json
import subprocess
import time
from pathlib import Path

import pytest

from slurm_helpers import (
    job_id_of,
    run_sweep,
    slurm_state,
    sweep_command,
    sweep_summary,
    wait_for,
)

pytestmark = pytest.mark.slurm

# The smallest real training: a few iterations of PPO on the DeepMimic humanoid with a handful of envs.
TRAINING = [
    "experiment=deepmimic_humanoid_ppo",
    "motion=procedural_walk",
    "num_envs=4",
    "test_episodes=2",
    "algo.steps_per_iter=8",
    "algo.model.actor_hidden_dims=[32]",
    "algo.model.critic_hidden_dims=[32]",
]


def read_metrics(job_dir: Path) -> dict:
    return json.loads((job_dir / "metrics.json").read_text())


def logged_iterations(job_dir: Path) -> list[int]:
    """The iteration column of the job's log.txt (one row per output; a resumed run appends to it)."""
    header, *rows = (job_dir / "log.txt").read_text().split("\n")
    column = header.split().index("iteration")
    return [int(float(row.split()[column])) for row in rows if row.strip()]


def test_sweep_of_three_trainings(sweep_dir: Path):
    result = run_sweep(sweep_dir, *TRAINING, "max_iters=2", "seed=0,1,2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    for num, seed in enumerate((0, 1, 2)):
        job_dir = sweep_dir / str(num)
        assert read_metrics(job_dir)["iteration"] == 2
        assert f"seed={seed}" in (job_dir / ".hydra" / "overrides.yaml").read_text()
        assert "_" in job_id_of(job_dir), "the three jobs were one SLURM job array"
    assert sorted(p.name for p in sweep_dir.parent.iterdir()) == ["sweep"], "jobs write only into their own dirs"

    summary = sweep_summary(sweep_dir, "--metric", "return")
    assert summary.returncode == 0, summary.stderr
    assert "3 jobs: 3 completed, 0 failed, 0 incomplete" in summary.stdout
    with open(sweep_dir / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["seed"] for r in rows) == ["0", "1", "2"]
    assert all(r["status"] == "COMPLETED" and r["return"] != "" for r in rows)
    returns = [float(r["return"]) for r in rows]
    assert returns == sorted(returns, reverse=True), "rows are sorted by the chosen metric, best first"


def test_crashed_member_does_not_stop_the_others(sweep_dir: Path):
    # The bad value passes Hydra's composition (env is typed by its _target_ only at run time) and fails in the job.
    result = run_sweep(sweep_dir, *TRAINING, "max_iters=1", "env.action_scale=fast,1.0")
    assert result.returncode == 1, "Hydra reports the failed member through the driver's exit code"

    assert read_metrics(sweep_dir / "1")["iteration"] == 1, "the healthy member ran to its end"
    assert not (sweep_dir / "0" / "metrics.json").exists()
    assert "run failed" in (sweep_dir / "0" / "run.log").read_text(), "the job logs its own exception"

    summary = sweep_summary(sweep_dir)
    assert summary.returncode == 0, summary.stderr
    assert "2 jobs: 1 completed, 1 failed, 0 incomplete" in summary.stdout
    with open(sweep_dir / "summary.csv") as f:
        rows = {r["job"]: r for r in csv.DictReader(f)}
    assert rows["0"]["status"] == "FAILED"
    assert "action_scale" in rows["0"]["reason"]
    assert rows["1"]["status"] == "COMPLETED"


def test_preempted_job_requeues_and_resumes(sweep_dir: Path):
    max_iters = 100  # long enough to be still training when the signal comes
    driver = subprocess.Popen(
        sweep_command(sweep_dir, *TRAINING, f"max_iters={max_iters}", "algo.iters_per_output=4", "seed=0"),
        cwd=sweep_dir.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        job_dir = sweep_dir / "0"
        log_txt = job_dir / "log.txt"  # a header, then one row per checkpoint
        wait_for(lambda: log_txt.is_file() and len(log_txt.read_text().splitlines()) >= 3, 180,
                 "two checkpoints of the first run", poll_s=0.2)
        job_id = job_id_of(job_dir)
        subprocess.run(["scancel", "--signal=USR2", job_id], check=True, timeout=30)  # what a preemption sends

        # submitit requeues the job; SLURM holds a requeued job for ~2 minutes unless told to start it now. Not
        # in the same second as the kill: slurmd would refuse the new launch ("Job credential revoked", FAILED).
        wait_for(lambda: slurm_state(job_id) == "PENDING", 60, "the requeued job to be pending")
        pending_since = time.monotonic()
        assert sweep_summary(sweep_dir).returncode == 0
        with open(sweep_dir / "summary.csv") as f:
            (row,) = csv.DictReader(f)
        # its logs show the requeue's kill, yet SLURM still holds it: neither failed nor done
        assert row["status"] == "INCOMPLETE" and row["reason"].startswith("SLURM: "), row
        time.sleep(max(0.0, 3.0 - (time.monotonic() - pending_since)))
        subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], check=True, timeout=30)
        out, _ = driver.communicate(timeout=240)
    finally:
        driver.kill()
    assert driver.returncode == 0, out[-3000:]

    assert read_metrics(job_dir)["iteration"] == max_iters
    run_log = (job_dir / "run.log").read_text()
    assert "this job is preempted" in run_log and "Requeued job" in run_log
    resumed_at = [int(line.rsplit(" ", 1)[1]) for line in run_log.splitlines() if "resumed from" in line]
    assert len(resumed_at) == 1 and resumed_at[0] > 0, "the requeued run resumed from a checkpoint"
    iterations = logged_iterations(job_dir)
    assert iterations == sorted(set(iterations)), f"no iteration was run twice: {iterations}"
    assert iterations[-1] == max_iters

    def accounting() -> list[str]:  # every run of the job; sacct lags the job's end by a moment
        return subprocess.run(["sacct", "-D", "-X", "-n", "-P", "-o", "State", "-j", job_id],
                              capture_output=True, text=True, timeout=30).stdout.split()

    wait_for(lambda: accounting()[-1:] == ["COMPLETED"], 60, "SLURM's accounting of the job's end")
    assert accounting() == ["REQUEUED", "COMPLETED"]
