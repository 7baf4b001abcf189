"""Atomic checkpoints and metric files: a crash mid-write never leaves a partial or corrupt file behind.

Checkpoints hold only tensors and plain python values (the RNG states included), so they load with
`torch.load(weights_only=True)`: opening a checkpoint never runs code from it.
"""
from __future__ import annotations

import glob
import json
import os
import random
import tempfile
from collections.abc import Callable
from typing import IO, Any

import numpy as np
import torch

CHECKPOINT_NAME = "model.pt"  # the run directory's latest checkpoint
INTERMEDIATE_DIR = "checkpoints"  # save_intermediate keeps <run>/checkpoints/iter_XXXXXX.pt
# a policy file (mimickit.tools.export_policy): the actor and the observation normaliser only, for acting
POLICY_FORMAT = "mimickit-policy"


def intermediate_checkpoint_path(out_dir: str, iteration: str) -> str:
    """`iteration` is a zero-padded number, or a glob pattern."""
    return os.path.join(out_dir, INTERMEDIATE_DIR, f"iter_{iteration}.pt")


def run_checkpoints(out_dir: str) -> list[str]:
    """The run directory's checkpoints, newest first: model.pt, then the intermediate ones."""
    intermediate = sorted(glob.glob(intermediate_checkpoint_path(out_dir, "*")), reverse=True)
    return [p for p in [os.path.join(out_dir, CHECKPOINT_NAME), *intermediate] if os.path.isfile(p)]


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Write a file through `write(f)` into a temporary file beside `path`, fsync it, then rename it over `path`.

    `os.replace` is atomic on POSIX: readers see the old file or the new one, never a mix. On failure the
    temporary file is removed and `path` is untouched.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_path, 0o644)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: str) -> None:
    """Persist the rename itself (the directory entry)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    atomic_write(path, lambda f: torch.save(state, f))


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read safely (corrupt, truncated, or holding objects other than tensors)."""


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path!r}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch's zip reader and its weights-only unpickler name neither the file nor the fix
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise CheckpointError(f"cannot load checkpoint {path!r}: {type(err).__name__}: {first_line} "
                              "(checkpoints load as tensors and plain values only; a truncated, corrupt or "
                              "foreign file is refused)") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"cannot load checkpoint {path!r}: holds a {type(state).__name__}, not a dict")
    return state


def is_policy_file(state: dict[str, Any]) -> bool:
    """A policy file (mimickit.tools.export_policy), not a full training checkpoint."""
    return state.get("format") == POLICY_FORMAT


def save_json(path: str | os.PathLike, data: dict[str, Any]) -> None:
    text = json.dumps(data, indent=2, sort_keys=True, default=float) + "\n"
    atomic_write(path, lambda f: f.write(text.encode()))


def capture_rng_state() -> dict[str, Any]:
    """RNG states of python, numpy and torch (CPU, and every CUDA device when CUDA is initialised), as tensors and
    plain values only."""
    version, python_state, gauss_next = random.getstate()
    bit_generator, keys, pos, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": {"version": version, "state": torch.tensor(python_state, dtype=torch.int64),
                   "gauss_next": gauss_next},
        "numpy": {"bit_generator": bit_generator, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["torch_cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"].tolist()), py["gauss_next"]))
    npy = state["numpy"]
    np.random.set_state((npy["bit_generator"], npy["keys"].cpu().numpy().astype(np.uint32), npy["pos"],
                         npy["has_gauss"], npy["cached_gaussian"]))
    torch.set_rng_state(state["torch"].cpu())
    if "torch_cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["torch_cuda"]])
