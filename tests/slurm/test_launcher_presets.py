"""The launcher presets compose with the project's config, and a `local` sweep runs a real training (no cluster)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def launcher_config(*overrides: str) -> dict:
    """hydra.launcher as Hydra composes it for `python -m mimickit.run <overrides>`."""
    out = subprocess.run([sys.executable, "-m", "mimickit.run", *overrides, "--cfg", "hydra", "-p", "hydra.launcher"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout.split("\n", 1)[1])  # drop the "# @package hydra.launcher" line


def test_slurm_presets_requeue_and_resume():
    cpu = launcher_config("hydra/launcher=slurm", "hydra.launcher.partition=cpu", "hydra.launcher.timeout_min=600")
    gpu = launcher_config("hydra/launcher=slurm_gpu")
    for cfg in (cpu, gpu):
        assert cfg["_target_"].endswith("SlurmLauncher")
        assert cfg["max_num_timeout"] > 0, "a time-out must requeue (the plugin's default 0 ends the run)"
        assert cfg["additional_parameters"] == {"requeue": True}
        assert any("PYTHONPATH" in line for line in cfg["setup"])
    assert (cpu["partition"], cpu["timeout_min"], cpu["gpus_per_node"]) == ("cpu", 600, None)
    assert gpu["gpus_per_node"] == 1 and gpu["max_num_timeout"] == cpu["max_num_timeout"]


def test_local_sweep_runs_a_training(tmp_path: Path):
    sweep_dir = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "mimickit.run", "-m", "hydra/launcher=local", f"hydra.sweep.dir={sweep_dir}",
           "experiment=deepmimic_humanoid_ppo", "motion=procedural_walk", "num_envs=4", "test_episodes=2",
           "algo.steps_per_iter=8", "algo.model.actor_hidden_dims=[32]", "algo.model.critic_hidden_dims=[32]",
           "max_iters=1", "seed=3"]
    result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert json.loads((sweep_dir / "0" / "metrics.json").read_text())["iteration"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep"]
    summary = subprocess.run([sys.executable, str(REPO / "scripts" / "sweep_summary.py"), str(sweep_dir)],
                             capture_output=True, text=True, timeout=120)
    assert "1 jobs: 1 completed" in summary.stdout, summary.stdout + summary.stderr
