"""Checkpoint before SLURM takes the job away: submitit's requeue signal is answered at an iteration boundary.

On SLURM, submitit binds SIGUSR2 (sent `signal_delay_s` before the time limit, or on preemption where the site
sends it) to a handler that requeues the job and exits at once, and it ignores SIGTERM. Whatever the trainer did
since its last periodic checkpoint is lost. `PreemptionGuard` wraps those handlers:

- SIGUSR2 becomes a request. The trainer calls `checkpoint_if_preempted(save)` once per iteration; when a request
  is pending it saves, then submitit's handler runs (requeue + exit). If the trainer has never reached such a
  boundary, or does not reach one within `grace_s`, submitit's handler runs without waiting.
- SIGTERM (SLURM's preemption without a user signal, `scontrol requeue`, `scancel`) means a SIGKILL follows
  after SLURM's KillWait (30 s by default): the trainer saves at every boundary from then on and trains on until
  the kill, and SLURM requeues the job itself; exiting normally would report the run as finished.

The guard only wraps handlers that someone (submitit) installed, and only in the main thread (where Python runs
signal handlers): in a plain run the signals keep their defaults.

A requeued job runs again in the same output directory, so the composition root resumes from the checkpoint it
finds there, and `finished_training_metrics` makes a rerun of a training that had already finished a no-op.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import threading
import types
from collections.abc import Callable
from typing import Optional

log = logging.getLogger(__name__)

SaveFn = Callable[[], None]
Handler = Callable[[int, Optional[types.FrameType]], object]

_active: Optional["PreemptionGuard"] = None


def finished_training_metrics(metrics_path: str, max_iters: int) -> Optional[dict]:
    """The metrics of a training that already reached `max_iters` (SLURM may rerun a job that had finished
    just before its requeue), or None when there is none or it stopped earlier."""
    if not os.path.isfile(metrics_path):
        return None
    with open(metrics_path) as f:
        metrics = json.load(f)
    if not isinstance(metrics, dict) or metrics.get("iteration", -1) < max_iters:
        return None
    return metrics


def checkpoint_if_preempted(save: SaveFn) -> None:
    """The trainer's hook, called at every iteration boundary: saves (and maybe exits) only when a signal is pending.

    A no-op unless a `PreemptionGuard` is active, so agents can call it unconditionally.
    """
    if _active is not None:
        _active.at_iteration_boundary(save)


class PreemptionGuard:
    """Context manager that defers submitit's requeue until the trainer has checkpointed."""

    def __init__(self, grace_s: float = 60.0, requeue_signal: int = signal.SIGUSR2) -> None:
        """grace_s: longest wait for an iteration boundary after the requeue signal; keep it well below the
        launcher's `signal_delay_s` (default 120 s), since SLURM may send the signal up to 60 s early."""
        if grace_s <= 0:
            raise ValueError(f"grace_s must be positive, got {grace_s}")
        self.grace_s = grace_s
        self.requeue_signal = requeue_signal
        self._previous: dict[int, Handler] = {}
        self._previous_alarm: object = signal.SIG_DFL
        self._alarm_armed = False
        self._requeue_pending = False
        self._terminating = False
        self._boundaries_seen = 0

    def __enter__(self) -> "PreemptionGuard":
        global _active
        if _active is not None:
            raise RuntimeError("a PreemptionGuard is already active")
        wrapped = ((self.requeue_signal, self._on_requeue_signal), (signal.SIGTERM, self._on_sigterm))
        if threading.current_thread() is not threading.main_thread():
            wrapped = ()  # signal.signal works only in the main thread
        for signum, handler in wrapped:
            current = signal.getsignal(signum)
            if callable(current):  # only wrap a handler someone installed (submitit); leave defaults alone
                self._previous[signum] = current
                signal.signal(signum, handler)
        _active = self
        return self

    def __exit__(self, *exc: object) -> None:
        global _active
        self._cancel_alarm()
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
        _active = None

    @property
    def active(self) -> bool:
        """Whether any signal is wrapped (False outside submitit)."""
        return bool(self._previous)

    def at_iteration_boundary(self, save: SaveFn) -> None:
        self._boundaries_seen += 1
        if not (self._requeue_pending or self._terminating):
            return
        self._cancel_alarm()
        save()
        if self._requeue_pending:
            log.warning("preemption: checkpoint saved at iteration boundary %d; requeueing", self._boundaries_seen)
            self._hand_over(self.requeue_signal)

    def _on_requeue_signal(self, signum: int, frame: Optional[types.FrameType]) -> None:
        if self._requeue_pending:
            return
        if self._boundaries_seen == 0:
            log.warning("preemption: %s before the first iteration; requeueing now", signal.Signals(signum).name)
            self._hand_over(signum)
            return
        log.warning("preemption: %s caught; checkpointing at the end of this iteration (at most %.0f s), then "
                    "requeueing", signal.Signals(signum).name, self.grace_s)
        self._requeue_pending = True
        self._previous_alarm = signal.signal(signal.SIGALRM, self._on_grace_expired)
        self._alarm_armed = True
        signal.setitimer(signal.ITIMER_REAL, self.grace_s)

    def _on_sigterm(self, signum: int, frame: Optional[types.FrameType]) -> None:
        if not self._terminating:
            log.warning("preemption: SIGTERM caught; saving a checkpoint at every iteration until the job is killed")
        self._terminating = True
        self._previous[signum](signum, frame)

    def _on_grace_expired(self, signum: int, frame: Optional[types.FrameType]) -> None:
        log.warning("preemption: no iteration boundary within %.0f s; requeueing without a checkpoint", self.grace_s)
        self._cancel_alarm()
        self._hand_over(self.requeue_signal)

    def _hand_over(self, signum: int) -> None:
        """Run submitit's own handler: it requeues the job and raises SystemExit."""
        self._requeue_pending = False
        self._previous[signum](signum, None)

    def _cancel_alarm(self) -> None:
        if not self._alarm_armed:
            return
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._previous_alarm)  # type: ignore[arg-type]
        self._alarm_armed = False
