"""What the export and sim2sim tests share: the repository root and running a module's CLI in a subprocess."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# a 2-iteration training run with 4 envs and 32-unit nets
TINY = ["num_envs=4", "max_iters=2", "sim.nthread=1", "algo.steps_per_iter=8", "test_episodes=0",
        "algo.iters_per_output=1", "algo.model.actor_hidden_dims=[32]", "algo.model.critic_hidden_dims=[32]"]


def run_module(module: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python -m module args...` from the repository root, headless and not as a requeued SLURM job."""
    env = {k: v for k, v in os.environ.items() if k not in ("SLURM_RESTART_COUNT", "DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env={**env, "PYTHONUNBUFFERED": "1"},
                          capture_output=True, text=True, timeout=timeout)
