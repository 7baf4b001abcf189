"""A MimicKit-style `log.txt`: one header line of column names, then one whitespace-separated row per record."""
from __future__ import annotations

import math
import os
from collections.abc import Mapping

import numpy as np

from mimickit.loggers.base import Logger


def _format_value(value: float) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    value = float(value)
    return "nan" if math.isnan(value) else f"{value:.8g}"


class TxtLogger(Logger):
    """Columns are fixed by the first record; a later record may omit keys (written as nan) but not add any.

    A run resumed into the same directory keeps the rows of an existing log whose `step_key` value is below the
    first new step, so the log reads like that of an uninterrupted run. The resumed run may log other columns
    (e.g. no test/* ones with test_episodes=0): the header is then the old columns followed by the new ones, and
    a row's missing cells read nan. An existing file without such rows is overwritten.
    """

    def __init__(self, out_dir: str, *, filename: str, column_width: int, step_key: str):
        """filename: the log in `out_dir`; column_width: characters per column (wider names widen theirs);
        step_key: the column a resumed run compares with its first step. conf/logger/txt.yaml writes the defaults."""
        self.path = os.path.join(out_dir, filename)
        self.column_width = column_width
        self.step_key = step_key
        self.columns: list[str] | None = None
        self._file = None

    def log(self, scalars: Mapping[str, float], step: int) -> None:
        for key in scalars:
            if any(c.isspace() for c in key) or not key:
                raise ValueError(f"log keys must be non-empty and free of whitespace, got {key!r}")
        if self.columns is None:
            self._open(list(scalars), step)
        unknown = [k for k in scalars if k not in self.columns]
        if unknown:
            raise ValueError(f"keys {unknown} were not in the first record; log.txt columns are {self.columns}")
        row = [_format_value(scalars.get(k, math.nan)) for k in self.columns]
        self._file.write(self._format_row(row))
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

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
        """Each cell padded to its column's width: `column_width`, or the column's name where that is longer, so
        rows stay under their headers."""
        widths = [max(self.column_width, len(name)) for name in self.columns]
        return " ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip() + "\n"


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
