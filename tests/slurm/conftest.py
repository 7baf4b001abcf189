"""A real one-node SLURM cluster for the sweep tests (helpers in slurm_helpers.py).

The cluster comes from `start_local_slurm.sh` (as root, Debian) in `$MIMICKIT_SLURM_TOOLS` (default
`<repo>/../shared/tools/slurm`); the tests that need it are skipped when the tools or root are missing.
"""
from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from slurm_helpers import SLURM_TOOLS, cluster_is_up, submitit_job_ids


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[None]:
    """Start the local cluster for this session; stop it at the end unless it was already running."""
    start = SLURM_TOOLS / "start_local_slurm.sh"
    if not start.is_file():
        pytest.skip(f"SLURM tools not found at {SLURM_TOOLS} (set MIMICKIT_SLURM_TOOLS)")
    if os.geteuid() != 0:
        pytest.skip("starting the local SLURM cluster needs root")
    was_up = cluster_is_up()
    started = subprocess.run(["bash", str(start)], capture_output=True, text=True, timeout=900)
    if started.returncode != 0:
        pytest.fail(f"start_local_slurm.sh failed (rc {started.returncode}):\n{started.stdout[-4000:]}\n"
                    f"{started.stderr[-4000:]}")
    yield
    if not was_up:
        subprocess.run(["bash", str(SLURM_TOOLS / "stop_local_slurm.sh")], capture_output=True, timeout=300)


@pytest.fixture
def sweep_dir(tmp_path: Path, slurm_cluster: None) -> Iterator[Path]:
    """A fresh hydra.sweep.dir; whatever the test left in the queue is cancelled afterwards."""
    path = tmp_path / "sweep"
    yield path
    ids = submitit_job_ids(path)
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True, timeout=60)
