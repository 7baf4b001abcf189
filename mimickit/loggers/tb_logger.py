"""TensorBoard event files through torch's SummaryWriter."""
from __future__ import annotations

import os
from collections.abc import Mapping

from mimickit.loggers.base import Logger


class TensorBoardLogger(Logger):
    def __init__(self, out_dir: str, subdir: str = "tb", flush_secs: int = 30):
        from torch.utils.tensorboard import SummaryWriter  # imported here: tensorboard is slow to import

        self.log_dir = os.path.join(out_dir, subdir)
        self._writer = SummaryWriter(log_dir=self.log_dir, flush_secs=flush_secs)

    def log(self, scalars: Mapping[str, float], step: int) -> None:
        for key, value in scalars.items():
            self._writer.add_scalar(key, float(value), global_step=step)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
