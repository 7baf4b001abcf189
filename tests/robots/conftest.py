"""Fixtures of the robot tests: the G1's settings (conf/robot/g1.yaml) and one clip retargeted onto it."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from omegaconf import OmegaConf

REPO_ROOT = Path(__file__).resolve().parents[2]
G1_CONF = OmegaConf.to_container(OmegaConf.load(REPO_ROOT / "conf" / "robot" / "g1.yaml"))
HUMANOID_WALK = REPO_ROOT / "data" / "motions" / "humanoid" / "humanoid_walk.pkl"

@pytest.fixture(scope="session")
def g1() -> dict:
    """conf/robot/g1.yaml as a dict (mjcf, key_bodies, contact_bodies, pd_gains); its MJCF comes from an installed
    package (`make install`)."""
    if importlib.util.find_spec("mjlab") is None:
        pytest.skip("the G1 MJCF (mjlab) is not installed: make install")
    return G1_CONF


@pytest.fixture(scope="session")
def retargeted_walk(g1, tmp_path_factory):
    """The humanoid walk retargeted onto the G1 by the CLI: (clip path, its JSON report path)."""
    pytest.importorskip("mink")
    if not HUMANOID_WALK.is_file():
        pytest.skip("needs the converted clips (make data)")
    from mimickit.tools import retarget_to_robot

    out_dir = tmp_path_factory.mktemp("g1_clips")
    retarget_to_robot.main([str(HUMANOID_WALK), "--out-dir", str(out_dir)])
    return out_dir / "g1_walk.pkl", out_dir / "g1_walk.json"
