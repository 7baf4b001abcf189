"""One call seeds every random number generator a run uses."""
from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int, deterministic: bool = False) -> int:
    """Seed python, numpy and torch (all devices). `deterministic=True` also asks torch for deterministic
    kernels (slower on GPU; CPU runs are deterministic already)."""
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    return seed


def worker_seed(seed: int, rank: int) -> int:
    """A distinct, reproducible seed for worker `rank` of a multi-process run."""
    return (seed + 1_000_003 * rank) % 2**32
