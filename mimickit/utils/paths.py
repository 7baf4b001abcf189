"""Where the project's files are, so runs can start from any directory."""
from __future__ import annotations

import importlib.util
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = REPO_ROOT / "conf"  # Hydra configs; absolute, so the console script finds them from any directory
PACKAGE_SCHEME = "package://"  # package://DIST/path: a file shipped inside an installed Python package


def resolve_path(path: str | Path, what: str = "file") -> Path:
    """Find a file given as an absolute path, or relative to the current directory, or to the repository root, or
    as `package://PACKAGE/relative/path` inside an installed package (a robot model a pip package ships)."""
    if str(path).startswith(PACKAGE_SCHEME):
        return resolve_package_path(str(path), what)
    path = Path(path)
    candidates = [path] if path.is_absolute() else [Path.cwd() / path, REPO_ROOT / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"{what} {str(path)!r} not found; tried: {tried}")


def resolve_package_path(url: str, what: str = "file") -> Path:
    """`package://PACKAGE/relative/path` -> the file inside the installed package's directory. The package is
    located without importing it (its own imports may need dependencies that are not installed)."""
    package, _, relative = url[len(PACKAGE_SCHEME):].partition("/")
    spec = importlib.util.find_spec(package) if package else None
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"{what} {url!r}: the Python package {package!r} is not installed (`make install` installs the "
            "robot packages, see the README's robots section)"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / relative
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{what} {url!r}: no {relative!r} in package {package!r} at {list(spec.submodule_search_locations)}")
