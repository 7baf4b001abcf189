"""The MimicKit `.pkl` motion clip: a pickled plain dict `{"loop_mode", "fps", "frames"}`.

Each frame is `[root pos (3), root rot (3, exp map), joint dofs]`, the joints in the character MJCF's depth-first
order: a 3-hinge body contributes a 3-D exp map, a 1-hinge body its angle in radians. Clips are read with an
unpickler that refuses every class except numpy arrays, so loading a file never runs code from it.
"""
from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

import numpy as np

from mimickit.utils.checkpoint import atomic_write
from mimickit.utils.paths import REPO_ROOT
from mimickit.utils.safe_pickle import RefusedGlobalError, restricted_loads

ROOT_POS_DIM = 3
ROOT_ROT_DIM = 3
ROOT_DIM = ROOT_POS_DIM + ROOT_ROT_DIM
REQUIRED_KEYS = ("loop_mode", "fps", "frames")
CONVERTED_CLIPS_DIR = REPO_ROOT / "data" / "motions" / "humanoid"  # not in git: `make data` writes it
RETARGETED_CLIPS_DIR = REPO_ROOT / "data" / "motions" / "g1"  # not in git: `make data-g1` writes it
_REFUSAL = (
    "a motion clip must be a plain dict of lists/numbers "
    "(older MimicKit archives pickled Motion objects; re-save them with Motion.save)"
)


class LoopMode(IntEnum):
    """What happens past the last frame: hold it (CLAMP) or start over (WRAP)."""

    CLAMP = 0
    WRAP = 1


class MotionFormatError(ValueError):
    """A clip file or frame array that is not a valid motion for the character."""


@dataclass
class Motion:
    """One clip: `frames` is (num_frames, frame_dim) float32, sampled uniformly at `fps`."""

    fps: float
    loop_mode: LoopMode
    frames: np.ndarray

    def __post_init__(self) -> None:
        self.fps = _check_fps(self.fps)
        self.loop_mode = _check_loop_mode(self.loop_mode)
        self.frames = _check_frames(self.frames)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def frame_dim(self) -> int:
        return int(self.frames.shape[1])

    @property
    def duration(self) -> float:
        """Seconds from the first to the last frame, (N - 1) / fps."""
        return (self.num_frames - 1) / self.fps

    def to_dict(self) -> dict:
        """Plain lists/ints/floats, so MimicKit itself (and any pickle reader) can load the file."""
        fps = int(self.fps) if float(self.fps).is_integer() else float(self.fps)
        return {"loop_mode": int(self.loop_mode), "fps": fps, "frames": self.frames.tolist()}

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically: a reader never sees a half-written clip."""
        atomic_write(path, lambda f: pickle.dump(self.to_dict(), f, protocol=pickle.HIGHEST_PROTOCOL))


def expected_frame_dim_text(frame_dim: int) -> str:
    return f"{frame_dim} = {ROOT_POS_DIM} + {ROOT_ROT_DIM} + {frame_dim - ROOT_DIM} dofs"


def load_motion(path: str | os.PathLike, frame_dim: int | None = None) -> Motion:
    """Read and validate a clip; `frame_dim` (if given) is what the character expects per frame."""
    path = Path(path)
    if not path.is_file():
        raise motion_not_found(path)
    try:
        data = restricted_loads(path.read_bytes(), refusal=_REFUSAL)
    except RefusedGlobalError as e:
        raise MotionFormatError(f"{path}: {e}") from None
    except Exception as e:
        raise MotionFormatError(f"{path}: not a readable motion pickle ({type(e).__name__}: {e})") from e
    return motion_from_dict(data, frame_dim=frame_dim, source=str(path))


def motion_not_found(path: str | os.PathLike) -> FileNotFoundError:
    """The error for a missing clip: its path once and, for a converted clip (not in git), how to make it."""
    path = Path(path)
    under = lambda folder: any(folder in p.resolve().parents for p in (path, REPO_ROOT / path))  # noqa: E731
    hint = ""
    if under(CONVERTED_CLIPS_DIR):
        hint = "; run `make data` to fetch and convert the humanoid clips"
    elif under(RETARGETED_CLIPS_DIR):
        hint = "; run `make data-g1` to retarget the humanoid clips onto the G1"
    return FileNotFoundError(f"motion file not found: {path}{hint}")


def motion_from_dict(data: object, frame_dim: int | None = None, source: str = "<dict>") -> Motion:
    """Validate a decoded clip dict and build the `Motion`; errors name `source`."""
    if not isinstance(data, dict):
        raise MotionFormatError(f"{source}: expected a dict with keys {list(REQUIRED_KEYS)}, got {type(data).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise MotionFormatError(f"{source}: missing keys {missing} (has {sorted(map(str, data))})")
    try:
        motion = Motion(fps=data["fps"], loop_mode=data["loop_mode"], frames=data["frames"])
    except MotionFormatError as e:
        raise MotionFormatError(f"{source}: {e}") from None
    if frame_dim is not None and motion.frame_dim != frame_dim:
        raise MotionFormatError(
            f"{source}: clip has {motion.frame_dim} values per frame, the character expects "
            f"{expected_frame_dim_text(frame_dim)}"
        )
    return motion


def _check_fps(fps: object) -> float:
    fps = _as_number(fps, "fps")
    if not np.isfinite(fps) or fps <= 0:
        raise MotionFormatError(f"fps must be a positive finite number, got {fps}")
    return fps


def _check_loop_mode(loop_mode: object) -> LoopMode:
    value = _as_number(loop_mode, "loop_mode")
    known = ", ".join(f"{m.value} {m.name}" for m in LoopMode)
    if value not in {m.value for m in LoopMode}:
        raise MotionFormatError(f"unknown loop mode {loop_mode!r} (expected {known})")
    return LoopMode(int(value))


def _as_number(value: object, name: str) -> float:
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    if isinstance(value, (bool, str)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise MotionFormatError(f"{name} must be a number, got {value!r}")
    return float(value)


def _check_frames(frames: object) -> np.ndarray:
    try:
        array = np.asarray(frames)
    except ValueError as e:
        lengths = sorted({len(row) for row in frames}) if isinstance(frames, list) else "?"
        raise MotionFormatError(f"frames are ragged (row lengths {lengths}): {e}") from None
    if array.dtype.kind not in "iuf":
        raise MotionFormatError(f"frames must be numbers, got an array of dtype {array.dtype}")
    if array.ndim != 2:
        raise MotionFormatError(f"frames must be a list of frames (2-D), got shape {array.shape}")
    if array.shape[0] < 2:
        raise MotionFormatError(f"a clip needs at least 2 frames, got {array.shape[0]}")
    if array.shape[1] < ROOT_DIM:
        raise MotionFormatError(f"a frame needs at least {ROOT_DIM} root values, got {array.shape[1]}")
    bad = ~np.isfinite(array)
    if bad.any():
        bad_frames = np.flatnonzero(bad.any(axis=1))
        bad_cols = np.flatnonzero(bad.any(axis=0))
        frame, col = np.argwhere(bad)[0]
        raise MotionFormatError(
            f"non-finite values (NaN/inf) in {bad_frames.size} of {array.shape[0]} frames "
            f"(frames {_short_list(bad_frames)}), columns {bad_cols.tolist()}; "
            f"first: {float(array[frame, col])} at frame {frame}, column {col}"
        )
    return np.ascontiguousarray(array, dtype=np.float32)


def _short_list(values: np.ndarray, limit: int = 8) -> str:
    shown = ", ".join(str(v) for v in values[:limit])
    return f"[{shown}, ...]" if values.size > limit else f"[{shown}]"
