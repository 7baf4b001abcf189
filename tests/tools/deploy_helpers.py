"""What the tool tests share: the repository root, running a module's CLI in a subprocess, and tiny training runs."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# a 2-iteration training run with 4 envs and 32-unit nets
TINY = ["num_envs=4", "max_iters=2", "sim.nthread=1", "algo.steps_per_iter=8", "test_episodes=0",
        "algo.iters_per_output=1", "algo.model.actor_hidden_dims=[32]", "algo.model.critic_hidden_dims=[32]"]
# the same for an ASE low-level policy (8-d latents)
TINY_ASE = ["experiment=ase_humanoid_pretrain", "motion=procedural_walk", "num_envs=4", "max_iters=2",
            "sim.nthread=1", "algo.steps_per_iter=8", "test_episodes=0", "algo.model.actor_hidden_dims=[32]",
            "algo.model.critic_hidden_dims=[32]", "algo.discriminator.hidden_dims=[32]",
            "algo.encoder.hidden_dims=[32]", "algo.latent_dim=8"]


def run_module(module: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python -m module args...` from the repository root, headless and not as a requeued SLURM job."""
    env = {k: v for k, v in os.environ.items() if k not in ("SLURM_RESTART_COUNT", "DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env={**env, "PYTHONUNBUFFERED": "1"},
                          capture_output=True, text=True, timeout=timeout)


def train_tiny(run_dir: Path, *overrides: str) -> Path:
    """model.pt of a training run through the CLI into `run_dir` (the caller's overrides make it tiny)."""
    out = run_module("mimickit.run", *overrides, f"hydra.run.dir={run_dir}")
    assert out.returncode == 0, out.stderr[-3000:]
    return run_dir / "model.pt"
