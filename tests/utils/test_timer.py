"""SectionTimer: time between laps summed per section name (wall clock on the CPU)."""
import time

import torch

from mimickit.utils.timer import SectionTimer


def test_laps_are_summed_per_section():
    timer = SectionTimer(torch.device("cpu"))
    for _ in range(2):
        time.sleep(0.03)
        timer.lap("env")
        time.sleep(0.01)
        timer.lap("policy")
    totals = timer.totals()
    assert sorted(totals) == ["env", "policy"]
    assert 0.06 <= totals["env"] < 0.2
    assert 0.02 <= totals["policy"] < totals["env"]
