"""The run's logger, built from `conf/logger/*.yaml`: the text log always, TensorBoard and W&B on request."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mimickit.loggers.base import CompositeLogger, Logger
from mimickit.loggers.progress import ConsoleProgress
from mimickit.loggers.txt_logger import TxtLogger


class RunLogger(CompositeLogger):
    def __init__(
        self,
        out_dir: str,
        txt: dict[str, Any] | None = None,
        tb: dict[str, Any] | None = None,
        wandb: dict[str, Any] | None = None,
        progress: bool = True,
    ):
        """`txt`, `tb` and `wandb` hold the keyword arguments of `TxtLogger`, `TensorBoardLogger` and
        `WandbLogger`. None leaves TensorBoard or W&B out; the text log is always written (defaults when None).
        `progress` adds the console progress bar (silent anyway when stdout is not a terminal)."""
        loggers: list[Logger] = [TxtLogger(out_dir, **_kwargs(txt))]
        if tb is not None:
            from mimickit.loggers.tb_logger import TensorBoardLogger

            loggers.append(TensorBoardLogger(out_dir, **_kwargs(tb)))
        if wandb is not None:
            from mimickit.loggers.wandb_logger import WandbLogger

            loggers.append(WandbLogger(out_dir, **_kwargs(wandb)))
        if progress:
            loggers.append(ConsoleProgress())
        super().__init__(loggers)


def _kwargs(section: Mapping[str, Any] | None) -> dict[str, Any]:
    return {} if section is None else {str(k): v for k, v in section.items()}
