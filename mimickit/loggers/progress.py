"""A one-line console progress bar (iteration, samples/s, return, episode length, simulation blow-ups); silent unless
stdout is a TTY."""
from __future__ import annotations

import sys
from collections.abc import Mapping

from tqdm import tqdm

from mimickit.loggers.base import Logger

# (key in the agent's per-iteration scalars, label on the bar, format)
SHOWN = (
    ("samples", "samples", "{:.3g}"),
    ("samples_per_s", "sps", "{:.0f}"),
    ("train/return", "return", "{:.3g}"),
    ("train/episode_length", "ep_len", "{:.1f}"),
    ("test/return", "test", "{:.3g}"),
    ("sim/unstable_resets_total", "unstable", "{:.0f}"),
)


class ConsoleProgress(Logger):
    def __init__(self, enabled: bool | None = None):
        self.enabled = sys.stdout.isatty() if enabled is None else enabled
        self._bar: tqdm | None = None
        self._last_test: dict[str, float] = {}

    def progress(self, scalars: Mapping[str, float], step: int) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            self._bar = tqdm(total=scalars.get("max_iters"), desc="train", unit="it", file=sys.stdout, leave=True)
        shown = {**self._last_test, **scalars}
        postfix = {label: fmt.format(shown[key]) for key, label, fmt in SHOWN if key in shown}
        self._bar.set_postfix(postfix, refresh=False)
        self._bar.n = int(scalars.get("iteration", self._bar.n + 1))
        self._bar.refresh()

    def log(self, scalars: Mapping[str, float], step: int) -> None:
        if "test/return" in scalars:
            self._last_test = {"test/return": float(scalars["test/return"])}

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
