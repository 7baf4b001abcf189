"""One metric of two or more training logs at equal sample counts, as ratios to the first log, and when each first
reached a threshold: how issue 13 compares ADD with DeepMimic ("within 1.5x at equal samples", "time to 0.10 m").

    python scripts/compare_logs.py dm/log.txt add/log.txt --at 30e6 50e6 70e6 --threshold 0.10
    python scripts/compare_logs.py a/log.txt b/log.txt -y train/episode_length --threshold 270 --above

Values between logged iterations are interpolated linearly in the sample count; a sample count past a log's end
reads as missing. The threshold is crossed at the first logged row at or below it (--above: at or above it), with
that row's sample count and wall time.
"""
from __future__ import annotations

import argparse
import math

import numpy as np

from mimickit.loggers.txt_logger import read_txt_log


def value_at(log: dict[str, np.ndarray], column: str, samples: float) -> float:
    """`column` interpolated at `samples` (nan outside the logged range)."""
    x = log["samples"]
    if samples < x[0] or samples > x[-1]:
        return math.nan
    return float(np.interp(samples, x, log[column]))


def first_crossing(log: dict[str, np.ndarray], column: str, threshold: float, above: bool) -> tuple[float, float]:
    """(samples, wall time in s) of the first row at or below `threshold` (at or above with `above`); nan if none."""
    hit = log[column] >= threshold if above else log[column] <= threshold
    if not hit.any():
        return math.nan, math.nan
    i = int(np.argmax(hit))
    return float(log["samples"][i]), float(log["wall_time_s"][i])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("logs", nargs="+", help="log.txt files; the first is the reference of the ratios")
    parser.add_argument("-y", "--column", default="train/episode/tracking_error")
    parser.add_argument("--at", type=float, nargs="+", default=[], help="sample counts to compare at")
    parser.add_argument("--threshold", type=float, help="report when each log first reached this value")
    parser.add_argument("--above", action="store_true", help="the threshold is reached from below (e.g. returns)")
    args = parser.parse_args()
    logs = [read_txt_log(path) for path in args.logs]
    for path, log in zip(args.logs, logs):
        missing = [c for c in ("samples", "wall_time_s", args.column) if c not in log]
        if missing:
            raise SystemExit(f"{path}: no columns {missing}")
    print(f"{args.column} at equal samples (ratio to {args.logs[0]})")
    for samples in args.at:
        ref = value_at(logs[0], args.column, samples)
        cells = []
        for log in logs:
            value = value_at(log, args.column, samples)
            cells.append(f"{value:.4g} ({value / ref:.2f}x)")
        print(f"  {samples / 1e6:7.1f}M  " + "  ".join(cells))
    if args.threshold is not None:
        side = ">=" if args.above else "<="
        for path, log in zip(args.logs, logs):
            samples, wall = first_crossing(log, args.column, args.threshold, args.above)
            reached = f"at {samples / 1e6:.1f}M samples, {wall:.0f} s" if not math.isnan(samples) else "not reached"
            print(f"  {path}: {args.column} {side} {args.threshold:g} {reached} (last row: "
                  f"{log[args.column][-1]:.4g} at {log['samples'][-1] / 1e6:.1f}M)")


if __name__ == "__main__":
    main()
