"""Weights & Biases run; `mode` is "online", "offline" (sync later with `wandb sync`) or "disabled"."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mimickit.loggers.base import Logger

MODES = ("online", "offline", "disabled")


class WandbLogger(Logger):
    def __init__(
        self,
        out_dir: str,
        *,
        project: str,
        entity: str | None,
        name: str | None,
        group: str | None,
        tags: Sequence[str],
        mode: str,
        config: Mapping[str, Any] | None,
    ):
        """The arguments of `wandb.init` (None: W&B's own choice); conf/logger/wandb.yaml writes the defaults."""
        if mode not in MODES:
            raise ValueError(f"unknown wandb mode {mode!r}; expected one of {MODES}")
        import wandb  # imported here: wandb is slow to import and optional for most runs

        self._run = wandb.init(
            dir=out_dir,
            project=project,
            entity=entity,
            name=name,
            group=group,
            tags=list(tags),
            mode=mode,
            config=dict(config) if config is not None else None,
            reinit="finish_previous",
        )

    @property
    def run_dir(self) -> str:
        return self._run.dir

    def log(self, scalars: Mapping[str, float], step: int) -> None:
        self._run.log({k: float(v) for k, v in scalars.items()}, step=step)

    def close(self) -> None:
        self._run.finish()
