"""Fixtures of the engine tests: the backend under test, the character files, a tiny engine factory."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import torch

from mimickit.sim.registry import build_engine

REPO_ROOT = Path(__file__).resolve().parents[2]
HUMANOID_XML = REPO_ROOT / "data" / "assets" / "humanoid" / "capsule_humanoid.xml"
SHARED_DATA = Path(os.environ.get("MIMICKIT_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
REFERENCE_XML = SHARED_DATA / "humanoid" / "humanoid.xml"  # MimicKit's file: hip actuators listed x, z, y



@pytest.fixture
def humanoid_xml() -> Path:
    return HUMANOID_XML


@pytest.fixture
def reference_xml() -> Path:
    """MimicKit's humanoid.xml from the shared data (skips when absent)."""
    if not REFERENCE_XML.is_file():
        pytest.skip(f"MimicKit's humanoid.xml not found at {REFERENCE_XML}")
    return REFERENCE_XML


def _backend_missing(name: str) -> str | None:
    """Why a backend cannot run here, or None."""
    if name == "mjwarp":
        if importlib.util.find_spec("mujoco_warp") is None:
            return "mujoco_warp is not installed"
        if MJWARP_DEVICE.startswith("cuda") and not torch.cuda.is_available():
            return "no CUDA device"
        if importlib.util.find_spec("mimickit.sim.mjwarp_engine") is None:
            return "mimickit.sim.mjwarp_engine does not exist yet"
    return None


BACKENDS = [
    pytest.param("mujoco", id="mujoco"),
    pytest.param("mjwarp", id="mjwarp", marks=pytest.mark.gpu),
]
# MIMICKIT_MJWARP_DEVICE=cpu runs the GPU backend on MuJoCo Warp's CPU backend (slow: ~2 min of kernel compilation).
MJWARP_DEVICE = os.environ.get("MIMICKIT_MJWARP_DEVICE", "cuda")
DEVICES = {"mujoco": "cpu", "mjwarp": MJWARP_DEVICE}


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    reason = _backend_missing(request.param)
    if reason:
        pytest.skip(reason)
    return request.param


@pytest.fixture
def make_engine(backend):
    """Build an engine of the backend under test with conf/sim's settings; keyword arguments override them and the
    small test values."""

    def make(**overrides):
        kwargs = dict(mjcf=str(HUMANOID_XML), num_envs=2, device=DEVICES[backend])
        if backend == "mujoco":
            kwargs["nthread"] = 1  # the CI machine's cores are shared
        kwargs.update(overrides)
        return build_engine(backend, **kwargs)

    return make
