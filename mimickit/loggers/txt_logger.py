"""A MimicKit-style `log.txt`: one header line of column names, then one whitespace-separated row per record.

A person reads it, so by default it holds a short set of the record's columns (`short_columns` in
conf/logger/txt.yaml: progress, return, episode length, the env's per-episode metrics, the discriminator's accuracy
and reward); `columns: all` writes every one. TensorBoard, W&B and metrics.json get every metric regardless.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Literal

import numpy as np

from mimickit.loggers.base import Logger


def _format_value(value: float) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    value = float(value)
    return "nan" if math.isnan(value) else f"{value:.8g}"


def select_columns(keys: Sequence[str], patterns: Sequence[str]) -> list[str]:
    """The `keys` that `patterns` pick, in the patterns' order (a glob's matches in the order of `keys`).

    A pattern is a name or an fnmatch glob (`train/episode/*`; `*` also matches across `/`); one starting with
    `!` drops what it matches from the keys picked so far (`!train/episode/reward_*`)."""
    chosen: list[str] = []
    for pattern in patterns:
        if pattern.startswith("!"):
            chosen = [key for key in chosen if not fnmatchcase(key, pattern[1:])]
        else:
            chosen += [key for key in keys if fnmatchcase(key, pattern) and key not in chosen]
    return chosen


class TxtLogger(Logger):
    """Columns are fixed by the first record; a later record may omit keys (written as nan) but not add any of the
    chosen ones. Keys the column choice leaves out are not written.

    A run resumed into the same directory keeps the rows of an existing log whose `step_key` value is below the
    first new step, so the log reads like that of an uninterrupted run. The resumed run may log other columns
    (e.g. no test/* ones with test_episodes=0, or another column choice): the header is then the old columns
    followed by the new ones, and a row's missing cells read nan. An existing file without such rows is
    overwritten.
    """

    def __init__(self, out_dir: str, *, filename: str, columns: Literal["short", "all"] | list[str],
                 short_columns: list[str], column_width: int, step_key: str):
        """filename: the log in `out_dir`; columns: `short` (the keys `short_columns` picks), `all` (every key of
        the first record) or a list of names and globs (as `short_columns`); short_columns: names, globs and
        `!globs` (see `select_columns`); column_width: the least characters per column, the widest value
        (longer names widen their column); step_key: the column a resumed run compares with its first step,
        always written. conf/logger/txt.yaml writes the defaults."""
        if isinstance(columns, str) and columns not in ("short", "all"):
            raise ValueError(f"logger.txt.columns must be short, all or a list of column names, got {columns!r}")
        self.path = os.path.join(out_dir, filename)
        self.patterns: list[str] | None = (None if columns == "all" else
                                           list(short_columns if columns == "short" else columns))
        self.column_width = column_width
        self.step_key = step_key
        self.columns: list[str] | None = None
        self._file = None

    def log(self, scalars: Mapping[str, float], step: int) -> None:
        for key in scalars:
            if any(c.isspace() for c in key) or not key:
                raise ValueError(f"log keys must be non-empty and free of whitespace, got {key!r}")
        if self.columns is None:
            self._open(self._chosen(list(scalars)), step)
        unknown = [k for k in self._chosen(list(scalars)) if k not in self.columns]
        if unknown:
            raise ValueError(f"keys {unknown} were not in the first record; log.txt columns are {self.columns}")
        row = [_format_value(scalars.get(k, math.nan)) for k in self.columns]
        self._file.write(self._format_row(row))
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _chosen(self, keys: list[str]) -> list[str]:
        """The keys this log writes: every one, or those the patterns pick, with `step_key` first if it is left out."""
        if self.patterns is None:
            return keys
        chosen = select_columns(keys, self.patterns)
        return chosen if self.step_key in chosen or self.step_key not in keys else [self.step_key, *chosen]

    def _open(self, columns: list[str], step: int) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        old_columns, kept_rows = self._earlier_rows(step)
        if kept_rows:
            columns = old_columns + [c for c in columns if c not in old_columns]
        self.columns = columns
        self._file = open(self.path, "w")
        self._file.write(self._format_row(columns))
        self._file.writelines(self._format_row(r + ["nan"] * (len(columns) - len(r))) for r in kept_rows)

    def _earlier_rows(self, step: int) -> tuple[list[str], list[list[str]]]:
        """Header and cells of the rows of an existing log logged before `step` (what a resumed run keeps)."""
        if not os.path.isfile(self.path):
            return [], []
        with open(self.path) as f:
            header, *rows = [line.split() for line in f] or [[]]
        if self.step_key not in header:
            return [], []
        col = header.index(self.step_key)
        return header, [r for r in rows if len(r) == len(header) and float(r[col]) < step]

    def _format_row(self, cells: list[str]) -> str:
        """Each cell at its column's start: columns are as wide as their name or `column_width` (the widest value),
        one space apart. A cell wider than its column pushes the next one right by what it must, and the row
        falls back into line at the first column it can reach."""
        line, start = "", 0
        for cell, name in zip(cells, self.columns):
            line = line.ljust(start) if len(line) < start or not line else line + " "
            line += cell
            start += max(self.column_width, len(name)) + 1
        return line.rstrip() + "\n"


def read_txt_log(path: str) -> dict[str, np.ndarray]:
    """Parse a log written by `TxtLogger` (or MimicKit) into {column: float array}."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"log file not found: {path!r}")
    with open(path) as f:
        lines = [line.split() for line in f.read().replace("\r", "\n").splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"{path!r} is empty")
    header, rows = lines[0], lines[1:]
    bad = [i + 2 for i, row in enumerate(rows) if len(row) != len(header)]
    if bad:
        raise ValueError(f"{path!r}: lines {bad} do not have the header's {len(header)} columns")
    table = np.array(rows, dtype=np.float64).reshape(len(rows), len(header))
    return {name: table[:, i] for i, name in enumerate(header)}
