"""Helpers of the SLURM sweep tests: launch a Hydra sweep of `mimickit.run`, poll SLURM, run the summary."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SLURM_TOOLS = Path(os.environ.get("MIMICKIT_SLURM_TOOLS", REPO.parent / "shared" / "tools" / "slurm"))

# Sized for the 2-CPU test node: two jobs run at once, each on one core.
SLURM_LAUNCHER = [
    "hydra/launcher=slurm",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=2",
    "hydra.launcher.timeout_min=30",
]


def cluster_is_up() -> bool:
    if shutil.which("scontrol") is None:
        return False
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True)
    return ping.returncode == 0 and "UP" in ping.stdout


def submitit_job_ids(sweep_dir: Path) -> list[str]:
    """SLURM ids of the sweep's jobs, from submitit's folders (`.submitit/<id>/<id>_submitted.pkl`)."""
    return sorted(p.parent.name for p in (sweep_dir / ".submitit").glob("*/*_submitted.pkl"))


def sweep_command(sweep_dir: Path, *overrides: str) -> list[str]:
    """`python -m mimickit.run -m ...` with the project's python, writing into `sweep_dir`."""
    return [sys.executable, "-m", "mimickit.run", "-m", *SLURM_LAUNCHER, f"hydra.sweep.dir={sweep_dir}", *overrides]


def run_sweep(sweep_dir: Path, *overrides: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Launch from the sweep's parent directory, so a test can see that nothing else lands there."""
    return subprocess.run(sweep_command(sweep_dir, *overrides), cwd=sweep_dir.parent, capture_output=True,
                          text=True, timeout=timeout)


def wait_for(condition: Callable[[], object], timeout: float, what: str, poll_s: float = 0.5) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll_s)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def slurm_state(job_id: str) -> str:
    """squeue's state of a job (PENDING, RUNNING, ...), "" once it has left the queue."""
    out = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True).stdout
    return out.strip()


def job_id_of(job_dir: Path) -> str:
    hydra_yaml = yaml.safe_load((job_dir / ".hydra" / "hydra.yaml").read_text())
    return str(hydra_yaml["hydra"]["job"]["id"])


def sweep_summary(sweep_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "scripts" / "sweep_summary.py"), str(sweep_dir), *args],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
