"""MuJoCo's warnings reach python logging, rate-limited, and no MUJOCO_LOG.TXT is written."""
import logging
from pathlib import Path

import mujoco
import pytest
import torch

from mimickit.sim import mujoco_log
from mimickit.sim.engine import CharState
from mimickit.sim.mujoco_log import RateLimitedWarnings
from mimickit.sim.registry import build_engine

# not imported from conftest: with tests/agents collected first, `conftest` names that directory's module
HUMANOID_XML = Path(__file__).resolve().parents[2] / "data" / "assets" / "humanoid" / "capsule_humanoid.xml"


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def fresh_warnings(monkeypatch):
    """The module's callback with no warnings seen yet, and MuJoCo's callback slot empty (restored afterwards)."""
    monkeypatch.setattr(mujoco_log, "_warnings", RateLimitedWarnings(mujoco_log.VERBATIM_WARNINGS, 60.0))
    previous = mujoco.get_mju_user_warning()
    mujoco.set_mju_user_warning(None)
    yield mujoco_log._warnings
    mujoco.set_mju_user_warning(previous)


def _messages(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "mimickit.sim.mujoco_log"]


def test_first_warnings_verbatim_then_one_count_per_interval(caplog):
    clock = FakeClock()
    warnings = RateLimitedWarnings(verbatim=2, interval_s=60.0, clock=clock)
    with caplog.at_level(logging.WARNING, logger="mimickit.sim.mujoco_log"):
        for i in range(5):  # 2 verbatim, then 3 counted within the first interval
            warnings(f"w{i}")
        clock.now = 61.0
        warnings("w5")  # the interval is over: one line with the 4 counted so far
        warnings("w6")
        warnings.flush()  # what runs at exit
        warnings.flush()  # nothing left to count
    assert _messages(caplog) == [
        "MuJoCo: w0",
        "MuJoCo: w1",
        "MuJoCo: further warnings are counted, one line per 60 s",
        "MuJoCo: 4 further warning(s) in the last 61 s, the latest: w5",
        "MuJoCo: 1 further warning(s) in the last 0 s, the latest: w6",
    ]


def test_engine_sends_mujoco_warnings_to_logging_and_writes_no_log_file(fresh_warnings, tmp_path, monkeypatch,
                                                                        caplog):
    monkeypatch.chdir(tmp_path)  # where MuJoCo's default handler would write MUJOCO_LOG.TXT
    # nthread=2: a worker thread calls back too
    engine = build_engine("mujoco", mjcf=str(HUMANOID_XML), num_envs=2, device="cpu", nthread=2)
    assert mujoco.get_mju_user_warning() is fresh_warnings
    pose = CharState.at_rest(
        root_pos=torch.tensor([[0.0, 0.0, 1.0]] * 2),
        root_rot=torch.tensor([[0.0, 0.0, 0.0, 1.0]] * 2),
        dof_pos=torch.full((2, engine.num_dofs), float("nan")),
    )
    with caplog.at_level(logging.WARNING, logger="mimickit.sim.mujoco_log"):
        engine.set_state(torch.arange(2), pose)
        engine.step()
    assert engine.num_unstable_resets == 2
    messages = _messages(caplog)
    assert messages and all(m.startswith("MuJoCo: Nan, Inf or huge value in QPOS") for m in messages), messages
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()

    mujoco.set_mju_user_warning(print)  # a callback someone else installed is kept
    build_engine("mujoco", mjcf=str(HUMANOID_XML), num_envs=1, device="cpu", nthread=1)
    assert mujoco.get_mju_user_warning() is print
