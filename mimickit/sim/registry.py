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


DEFAULT_ROBOT = "humanoid"  # conf/robot/<this>.yaml gives the robot settings a script or test does not pass
_RUN_KEYS = ("mjcf", "num_envs", "device")


def engine_settings(name: str) -> dict[str, Any]:
    """The settings conf/sim/<name>.yaml writes out, without those it takes from the run (mjcf, num_envs, device);
    the robot's other settings (pd_gains) are the default robot's: pass them for another robot."""
    if name not in ENGINES:
        raise KeyError(f"unknown engine {name!r}; known engines: {sorted(ENGINES)}")
    conf = OmegaConf.load(CONF_DIR / "sim" / f"{name}.yaml")
    robot = OmegaConf.load(CONF_DIR / "robot" / f"{DEFAULT_ROBOT}.yaml")
    settings = OmegaConf.create({"robot": robot, "sim": conf})
    raw = OmegaConf.to_container(conf, resolve=False)
    keys = [k for k, v in raw.items() if k not in ("_target_", *_RUN_KEYS)
            and (not OmegaConf.is_interpolation(conf, k) or str(v).startswith("${robot."))]
    values = {k: OmegaConf.select(settings, f"sim.{k}") for k in keys}
    return {k: OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v for k, v in values.items()}


def build_engine(name: str, **settings: Any) -> Engine:
    """Backend `name` with conf/sim/<name>.yaml's settings, `settings` on top; mjcf, num_envs and device (which the
    YAML takes from the run) must be among them."""
    return get_engine_class(name)(**{**engine_settings(name), **settings})
