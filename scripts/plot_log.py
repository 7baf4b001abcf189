"""Plot columns of one or more `log.txt` files (ours or MimicKit's) against a chosen x column, to a PNG.

    python scripts/plot_log.py outputs/run/log.txt -y train/return test/return -o returns.png
    python scripts/plot_log.py a/log.txt b/log.txt -x samples -y test/return --labels ppo awr
"""
from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")  # headless: PNG output only
import matplotlib.pyplot as plt  # noqa: E402

from mimickit.loggers.txt_logger import read_txt_log  # noqa: E402


def plot_logs(
    log_files: list[str], x: str, ys: list[str], out_file: str, labels: list[str] | None = None
) -> None:
    """One subplot per y column, one line per log file."""
    if labels is not None and len(labels) != len(log_files):
        raise ValueError(f"got {len(labels)} labels for {len(log_files)} log files")
    logs = [read_txt_log(path) for path in log_files]
    for path, log in zip(log_files, logs):
        missing = [c for c in [x, *ys] if c not in log]
        if missing:
            raise KeyError(f"{path}: no columns {missing}; it has {sorted(log)}. log.txt holds the short column set "
                           "of conf/logger/txt.yaml: train with logger.txt.columns=all for every metric (TensorBoard, "
                           "logger=tb, has every one too)")
    fig, axes = plt.subplots(len(ys), 1, figsize=(7, 3 * len(ys)), sharex=True, squeeze=False)
    for ax, y in zip(axes[:, 0], ys):
        for i, (path, log) in enumerate(zip(log_files, logs)):
            ax.plot(log[x], log[y], label=labels[i] if labels else path)
        ax.set_ylabel(y)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize="small")
    axes[-1, 0].set_xlabel(x)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out_file)), exist_ok=True)
    fig.savefig(out_file, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("log_files", nargs="+", help="log.txt files")
    parser.add_argument("-x", default="samples", help="x-axis column (default: samples)")
    parser.add_argument("-y", nargs="+", default=["train/return", "test/return"], help="columns to plot")
    parser.add_argument("-o", "--out", help="output PNG (default: log.png beside the first log)")
    parser.add_argument("--labels", nargs="+", help="legend label per log file")
    args = parser.parse_args(argv)
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.log_files[0])), "log.png")
    plot_logs(args.log_files, args.x, args.y, out, args.labels)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
