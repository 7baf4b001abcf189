"""Engine backends by name, for scripts and tests that pick one from a string (Hydra configs use `_target_`)."""
from __future__ import annotations

import importlib

from mimickit.sim.engine import Engine

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
