"""Console progress: a one-line bar in a terminal; one summary line per logged record when stdout is a pipe or a
file (make, tee, nohup, SLURM logs), so a long run is never silent."""
from __future__ import annotations

import sys
from collections.abc import Mapping

from tqdm import tqdm

from mimickit.loggers.base import Logger

# (key in the agent's per-iteration scalars, label, format)
SHOWN = (
    ("samples", "samples", "{:.3g}"),
    ("samples_per_s", "sps", "{:.0f}"),
    ("train/return", "return", "{:.3g}"),
    ("train/episode_length", "ep_len", "{:.1f}"),
    ("train/episode/tracking_error", "track_err", "{:.3f}"),
    ("test/return", "test", "{:.3g}"),
    ("sim/unstable_resets_total", "unstable", "{:.0f}"),
)
# no rate: the agent's samples/s is the meaningful one, and tqdm's is wrong after a resume
BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar:20}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"


class ConsoleProgress(Logger):
    def __init__(self, bar: bool | None = None):
        """bar: draw the bar (default: when stdout is a terminal); otherwise print a line per logged record."""
        self.bar = sys.stdout.isatty() if bar is None else bar
        self._bar: tqdm | None = None
        self._last: dict[str, float] = {}

    def progress(self, scalars: Mapping[str, float], step: int) -> None:
        self._last.update({k: float(v) for k, v in scalars.items() if k != "test/return"})
        if not self.bar:
            return
        iteration = int(scalars.get("iteration", 0))
        if self._bar is None:  # starts at the first iteration of this process (a resumed run starts late)
            self._bar = tqdm(total=scalars.get("max_iters"), initial=max(iteration - 1, 0), desc="train",
                             file=sys.stdout, bar_format=BAR_FORMAT)
        self._bar.set_postfix(_shown(self._last), refresh=False)
        self._bar.update(iteration - self._bar.n)
        self._bar.refresh()
        if self._bar.total is not None and self._bar.n >= self._bar.total:
            self.close()  # before the run's closing log line, which would otherwise land on the bar

    def log(self, scalars: Mapping[str, float], step: int) -> None:
        if "test/return" in scalars:
            self._last["test/return"] = float(scalars["test/return"])
        if self.bar:
            return
        total = self._last.get("max_iters")
        position = f"{int(scalars.get('iteration', 0))}" + (f"/{int(total)}" if total else "")
        parts = [f"{label} {value}" for label, value in _shown({**self._last, **scalars}).items()]
        print(f"iteration {position}  " + "  ".join(parts), file=sys.stdout, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _shown(scalars: Mapping[str, float]) -> dict[str, str]:
    return {label: fmt.format(scalars[key]) for key, label, fmt in SHOWN if key in scalars}
