"""MuJoCo's warnings in python logging, rate-limited, instead of `MUJOCO_LOG.TXT` in the working directory.

MuJoCo's default handler appends every warning to that file and to stderr; an unstable run warns at each blow-up (the
engine's reset re-arms MuJoCo's once-per-world warning), which grew the file by hundreds of KB in seconds. With a
legacy warning callback installed (`mujoco.set_mju_user_warning`, the hook the Python bindings expose), the default
handler calls it instead and writes nothing.
"""
from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable

import mujoco

VERBATIM_WARNINGS = 5  # the first warnings of a process are logged as MuJoCo wrote them...
SUMMARY_INTERVAL_S = 60.0  # ...later ones as one line with their count per interval

log = logging.getLogger(__name__)


class RateLimitedWarnings:
    """A MuJoCo warning callback: the first `verbatim` warnings as they are, then one count per `interval_s`.

    MuJoCo calls it from `mujoco.batch.Batch`'s worker threads, hence the lock. A count is written when a warning
    arrives after its interval has passed, and at exit for the last one.
    """

    def __init__(self, verbatim: int, interval_s: float, clock: Callable[[], float] = time.monotonic):
        self.verbatim = verbatim
        self.interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._seen = 0
        self._suppressed = 0
        self._latest = ""
        self._interval_start = 0.0

    def __call__(self, message: str) -> None:
        with self._lock:
            self._seen += 1
            if self._seen <= self.verbatim:
                log.warning("MuJoCo: %s", message)
                if self._seen == self.verbatim:
                    log.warning("MuJoCo: further warnings are counted, one line per %.0f s", self.interval_s)
                    self._interval_start = self._clock()
                return
            self._suppressed += 1
            self._latest = message
            if self._clock() - self._interval_start >= self.interval_s:
                self._write_count()

    def flush(self) -> None:
        """Write the count of warnings not reported yet."""
        with self._lock:
            self._write_count()

    def _write_count(self) -> None:
        if self._suppressed:
            log.warning("MuJoCo: %d further warning(s) in the last %.0f s, the latest: %s", self._suppressed,
                        self._clock() - self._interval_start, self._latest)
        self._suppressed = 0
        self._interval_start = self._clock()


_warnings = RateLimitedWarnings(VERBATIM_WARNINGS, SUMMARY_INTERVAL_S)
atexit.register(_warnings.flush)


def route_mujoco_warnings() -> None:
    """Send MuJoCo's warnings to this module's logger (engines call this when built); a callback that is already
    installed, ours or a user's, is kept."""
    if mujoco.get_mju_user_warning() is None:
        mujoco.set_mju_user_warning(_warnings)
