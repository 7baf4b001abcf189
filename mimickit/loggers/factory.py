"""The run's logger, built from `conf/logger/*.yaml`: the text log always, TensorBoard and W&B on request."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from mimickit.config import KwargsOf
from mimickit.loggers.base import CompositeLogger, Logger
from mimickit.loggers.progress import ConsoleProgress
from mimickit.loggers.tb_logger import TensorBoardLogger
from mimickit.loggers.txt_logger import TxtLogger
from mimickit.loggers.wandb_logger import WandbLogger

_OUT_DIR = ("out_dir",)  # every logger writes into the run directory, given by the composition root


class RunLogger(CompositeLogger):
    def __init__(
        self,
        out_dir: str,
        *,
        txt: Annotated[dict, KwargsOf(TxtLogger, filled_in=_OUT_DIR)],
        tb: Annotated[dict, KwargsOf(TensorBoardLogger, filled_in=_OUT_DIR)] | None,
        wandb: Annotated[dict, KwargsOf(WandbLogger, filled_in=_OUT_DIR)] | None,
        progress: bool,
    ):
        """`txt`, `tb` and `wandb` hold the keyword arguments of `TxtLogger`, `TensorBoardLogger` and
        `WandbLogger` (conf/logger/*.yaml lists every one). None leaves TensorBoard or W&B out; the text log is
        always written. `progress` adds console progress: a bar in a terminal, a line per record when piped."""
        loggers: list[Logger] = [TxtLogger(out_dir, **_kwargs(txt))]
        if tb is not None:
            loggers.append(TensorBoardLogger(out_dir, **_kwargs(tb)))
        if wandb is not None:
            loggers.append(WandbLogger(out_dir, **_kwargs(wandb)))
        if progress:
            loggers.append(ConsoleProgress())
        super().__init__(loggers)


def _kwargs(section: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in section.items()}
