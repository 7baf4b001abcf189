"""The logger interface: plain dicts of scalars in, one record per call."""
from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence


class Logger(abc.ABC):
    """`log` keeps a record (written every `iters_per_output` iterations); `progress` is a transient
    per-iteration display that only console loggers implement. Keys are slash-grouped names without spaces
    ("train/return", "loss/actor")."""

    @abc.abstractmethod
    def log(self, scalars: Mapping[str, float], step: int) -> None: ...

    def progress(self, scalars: Mapping[str, float], step: int) -> None:
        """Show per-iteration progress; most loggers ignore it."""

    def close(self) -> None:
        """Flush and release files or connections."""


class CompositeLogger(Logger):
    """Forwards every call to each of its loggers, in order."""

    def __init__(self, loggers: Sequence[Logger]):
        self.loggers = list(loggers)

    def log(self, scalars: Mapping[str, float], step: int) -> None:
        for logger in self.loggers:
            logger.log(scalars, step)

    def progress(self, scalars: Mapping[str, float], step: int) -> None:
        for logger in self.loggers:
            logger.progress(scalars, step)

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()
