"""The metadata JSON written beside an exported policy (`<name>.onnx` -> `<name>.json`): everything besides the
network that playing the policy needs. The schema, key by key, is in docs/deployment.md.

Arrays are plain lists; an unbounded value (a joint without limits, a joint without a torque limit) is `null`,
since JSON has no infinity. Paths (the MJCF, the clips) are relative to the repository root when they lie inside
it, else absolute, or `package://` URLs as the robot's YAML gives them; `resolve_file` finds them from the current
directory, the metadata's directory or the root.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from mimickit.utils.paths import PACKAGE_SCHEME, REPO_ROOT, resolve_path

FORMAT = "mimickit-policy"
VERSION = 1
SECTIONS = ("onnx", "source", "character", "physics", "action", "observation", "task")
DEEPMIMIC_TASK = "deepmimic"  # task.type of tracking policies (DeepMimic's observation, `mimickit.deploy.observations`)


class MetadataError(ValueError):
    """A metadata file this runtime cannot play: another format or version, or a missing key."""


def metadata_path(onnx_path: str | os.PathLike) -> Path:
    """`policy.onnx` -> `policy.json`."""
    return Path(onnx_path).with_suffix(".json")


def load_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a metadata file; raises MetadataError naming the file for anything unplayable."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"policy metadata not found: {path} (export_onnx writes it beside the .onnx file)")
    meta = json.loads(path.read_text())
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise MetadataError(f"{path}: not a {FORMAT} metadata file (format={meta.get('format')!r})")
    if meta.get("version") != VERSION:
        raise MetadataError(f"{path}: metadata version {meta.get('version')!r}; this runtime reads version {VERSION}")
    missing = [s for s in SECTIONS if s not in meta]
    if missing:
        raise MetadataError(f"{path}: missing sections {missing}")
    meta["_path"] = str(path.resolve())
    return meta


def save_metadata(path: str | os.PathLike, meta: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps({"format": FORMAT, "version": VERSION, **meta}, indent=1, allow_nan=False) + "\n")


def to_json_floats(values: Any) -> list:
    """A float array as a list, infinities as None."""
    return [None if not math.isfinite(v) else float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1)]


def from_json_floats(values: list, missing: float) -> np.ndarray:
    """The inverse of `to_json_floats`: None becomes `missing` (+inf or -inf)."""
    return np.array([missing if v is None else v for v in values], dtype=np.float64)


def portable_path(path: str | os.PathLike) -> str:
    """Relative to the repository root when inside it, else absolute."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def resolve_file(path: str | os.PathLike, meta: dict[str, Any], what: str) -> Path:
    """An absolute path, or one relative to the current directory, the metadata file's directory or the root, or
    `package://PACKAGE/path` inside an installed package (the G1's MJCF)."""
    if str(path).startswith(PACKAGE_SCHEME):
        return resolve_path(str(path), what)
    path = Path(path)
    if path.is_absolute():
        candidates = [path]
    else:
        candidates = [Path.cwd() / path, Path(meta.get("_path", ".")).parent / path, REPO_ROOT / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{what} {str(path)!r} not found; tried: {', '.join(map(str, candidates))}")
