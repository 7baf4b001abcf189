"""Engine backends by name, for scripts and tests that pick one from a string (Hydra configs use `_target_`).

Engines have no defaults in code: conf/sim/<name>.yaml is the one place of each setting, and `build_engine` reads
it so that a script or test states only what it changes.
"""
from __future__ import annotations

import importlib
from typing import Any

from omegaconf import OmegaConf

from mimickit.sim.engine import Engine
from mimickit.utils.paths import CONF_DIR

ENGINES = {
    "mujoco": "mimickit.sim.mujoco_engine:MujocoEngine",
    "mjwarp": "mimickit.sim.mjwarp_engine:MjwarpEngine",
}


def get_engine_class(name: str) -> type[Engine]:
    """Import a backend lazily, so the CPU engine never needs the GPU stack."""
    if name not in ENGINES:
        raise KeyError(f"unknown engine {name!r}; known engines: {sorted(ENGINES)}")
    module_name, class_name = ENGINES[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def engine_settings(name: str) -> dict[str, Any]:
    """The settings conf/sim/<name>.yaml writes out, without those it takes from the run (mjcf, num_envs, device)."""
    if name not in ENGINES:
        raise KeyError(f"unknown engine {name!r}; known engines: {sorted(ENGINES)}")
    conf = OmegaConf.load(CONF_DIR / "sim" / f"{name}.yaml")
    written = [k for k in conf if k != "_target_" and not OmegaConf.is_interpolation(conf, k)]
    return OmegaConf.to_container(OmegaConf.masked_copy(conf, written))


def build_engine(name: str, **settings: Any) -> Engine:
    """Backend `name` with conf/sim/<name>.yaml's settings, `settings` on top; mjcf, num_envs and device (which the
    YAML takes from the run) must be among them."""
    return get_engine_class(name)(**{**engine_settings(name), **settings})
