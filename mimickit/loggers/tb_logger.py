"""TensorBoard event files through torch's SummaryWriter."""
from __future__ import annotations

import os
from collections.abc import Mapping

from mimickit.loggers.base import Logger


class TensorBoardLogger(Logger):
    def __init__(self, out_dir: str, *, subdir: str, flush_secs: int):
        """subdir: event files go to `out_dir/subdir`; flush_secs: longest wait before pending events reach the
        disk. conf/logger/tb.yaml writes the defaults."""
        from torch.utils.tensorboard import SummaryWriter  # imported here: tensorboard is slow to import

        self.log_dir = os.path.join(out_dir, subdir)
        self._writer = SummaryWriter(log_dir=self.log_dir, flush_secs=flush_secs)

    def log(self, scalars: Mapping[str, float], step: int) -> None:
        for key, value in scalars.items():
            self._writer.add_scalar(key, float(value), global_step=step)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
