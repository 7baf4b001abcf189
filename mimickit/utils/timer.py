"""Where the time of a training iteration goes, without waiting for the GPU while it is measured."""
from __future__ import annotations

import time

import torch


class SectionTimer:
    """Sums the time between consecutive `lap(name)` calls under `name`.

    On a CUDA device, laps record events on the current stream, so timing adds no host sync: `totals` (one sync)
    reads the device time each section took, which is also its share of the wall time when the GPU is the bottleneck.
    Elsewhere, laps read the wall clock.
    """

    def __init__(self, device: torch.device):
        self._cuda = device.type == "cuda"
        self._marks: list[tuple[str, object]] = []
        self._start = self._now()

    def lap(self, name: str) -> None:
        self._marks.append((name, self._now()))

    def totals(self) -> dict[str, float]:
        """Seconds per section name."""
        sums: dict[str, float] = {}
        previous = self._start
        if self._cuda and self._marks:
            self._marks[-1][1].synchronize()
        for name, mark in self._marks:
            seconds = previous.elapsed_time(mark) / 1e3 if self._cuda else mark - previous
            sums[name] = sums.get(name, 0.0) + seconds
            previous = mark
        return sums

    def _now(self):
        if not self._cuda:
            return time.perf_counter()
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event
