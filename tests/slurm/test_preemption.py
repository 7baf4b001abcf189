"""PreemptionGuard against a stand-in for submitit's signal handlers (no cluster needed)."""
from __future__ import annotations

import os
import signal
import time

import pytest

from mimickit.utils import preemption
from mimickit.utils.preemption import PreemptionGuard, checkpoint_if_preempted


class FakeSubmitit:
    """Records calls like submitit's handlers: USR2 requeues and exits, SIGTERM is only logged."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def requeue_and_exit(self, signum, frame) -> None:
        self.events.append("requeue")
        raise SystemExit(-1)

    def bypass(self, signum, frame) -> None:
        self.events.append("bypass")


@pytest.fixture
def submitit_handlers():
    fake = FakeSubmitit()
    saved = {s: signal.getsignal(s) for s in (signal.SIGUSR2, signal.SIGTERM, signal.SIGALRM)}
    signal.signal(signal.SIGUSR2, fake.requeue_and_exit)
    signal.signal(signal.SIGTERM, fake.bypass)
    yield fake
    signal.setitimer(signal.ITIMER_REAL, 0)
    for s, handler in saved.items():
        signal.signal(s, handler)


def send(signum: int) -> None:
    os.kill(os.getpid(), signum)
    time.sleep(0.01)  # the handler runs in the main thread at the next bytecode boundary


def test_requeue_waits_for_the_checkpoint(submitit_handlers):
    fake = submitit_handlers
    saves = []
    with PreemptionGuard(grace_s=5.0):
        checkpoint_if_preempted(lambda: saves.append(1))  # a boundary without a signal: nothing happens
        assert saves == [] and fake.events == []
        send(signal.SIGUSR2)
        assert fake.events == [], "the requeue must wait for the trainer's checkpoint"
        with pytest.raises(SystemExit):
            checkpoint_if_preempted(lambda: fake.events.append("save"))
    assert fake.events == ["save", "requeue"]
    assert signal.getsignal(signal.SIGUSR2) == fake.requeue_and_exit, "handlers are restored on exit"


def test_requeue_before_any_iteration_is_immediate(submitit_handlers):
    with PreemptionGuard(grace_s=5.0):
        with pytest.raises(SystemExit):
            send(signal.SIGUSR2)
    assert submitit_handlers.events == ["requeue"]


def test_requeue_goes_ahead_when_no_boundary_comes(submitit_handlers):
    with PreemptionGuard(grace_s=0.2):
        checkpoint_if_preempted(lambda: None)
        send(signal.SIGUSR2)
        with pytest.raises(SystemExit):
            time.sleep(2.0)  # a stuck iteration: the grace alarm hands over to submitit
    assert submitit_handlers.events == ["requeue"]


def test_sigterm_saves_and_keeps_training(submitit_handlers):
    fake = submitit_handlers
    with PreemptionGuard(grace_s=5.0):
        checkpoint_if_preempted(lambda: None)
        send(signal.SIGTERM)
        checkpoint_if_preempted(lambda: fake.events.append("save"))
        checkpoint_if_preempted(lambda: fake.events.append("save"))
    assert fake.events == ["bypass", "save", "save"], "a save at every boundary until the kill, no exit"


def test_plain_run_keeps_default_handlers():
    if callable(signal.getsignal(signal.SIGUSR2)) or callable(signal.getsignal(signal.SIGTERM)):
        pytest.skip("the test runner installed its own handlers")
    with PreemptionGuard() as guard:
        assert not guard.active
        assert signal.getsignal(signal.SIGUSR2) == signal.SIG_DFL
        checkpoint_if_preempted(lambda: pytest.fail("no signal, no save"))
    assert preemption._active is None


def test_bad_arguments():
    with pytest.raises(ValueError, match="grace_s"):
        PreemptionGuard(grace_s=0)
    with PreemptionGuard():
        with pytest.raises(RuntimeError, match="already active"):
            PreemptionGuard().__enter__()


def test_finished_training_metrics(tmp_path):
    path = tmp_path / "metrics.json"
    assert preemption.finished_training_metrics(str(path), max_iters=10) is None
    path.write_text('{"iteration": 6, "return": 1.0}')
    assert preemption.finished_training_metrics(str(path), max_iters=10) is None, "stopped early: train on"
    path.write_text('{"iteration": 10, "return": 1.0}')
    assert preemption.finished_training_metrics(str(path), max_iters=10) == {"iteration": 10, "return": 1.0}


def test_outside_the_main_thread_nothing_is_wrapped(submitit_handlers):
    import threading

    guards = []
    worker = threading.Thread(target=lambda: guards.append(PreemptionGuard().__enter__()))
    worker.start()
    worker.join()
    assert not guards[0].active
    guards[0].__exit__(None, None, None)
    assert signal.getsignal(signal.SIGUSR2) == submitit_handlers.requeue_and_exit
