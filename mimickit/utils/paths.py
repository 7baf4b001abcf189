"""Where the project's files are, so runs can start from any directory."""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = REPO_ROOT / "conf"  # Hydra configs; absolute, so the console script finds them from any directory


def resolve_path(path: str | Path, what: str = "file") -> Path:
    """Find a file given as an absolute path, or relative to the current directory, or to the repository root."""
    path = Path(path)
    candidates = [path] if path.is_absolute() else [Path.cwd() / path, REPO_ROOT / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"{what} {str(path)!r} not found; tried: {tried}")
