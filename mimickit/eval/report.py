"""The evaluation's report files: eval.csv and eval.md (one row per clip and a mean row), eval_per_frame.csv and
eval_per_frame.png (each clip's body position error over its phase)."""
from __future__ import annotations

import csv
import math
import os

import torch

# column: (Markdown header, format); the rows are dicts with these keys
COLUMNS = {
    "clip": ("clip", "{}"),
    "length_s": ("length (s)", "{:.2f}"),
    "episodes": ("episodes", "{:d}"),
    "success_rate": ("success", "{:.3f}"),
    "body_pos_err_mm": ("body pos err (mm)", "{:.1f}"),
    "mpjpe_mm": ("MPJPE (mm)", "{:.1f}"),
    "joint_angle_err_rad": ("joint angle err (rad)", "{:.3f}"),
    "max_body_pos_err_mm": ("max body pos err (mm)", "{:.1f}"),
    "root_drift_m": ("root drift (m)", "{:.3f}"),
}
SUMMED = ("episodes",)  # the mean row holds their total; every other number is the mean over clips


def mean_row(rows: list[dict]) -> dict:
    """The mean over clips of every numeric column (the total for SUMMED ones), as a row named "mean"."""
    row: dict = {"clip": "mean"}
    for key in COLUMNS:
        if key == "clip":
            continue
        values = [r[key] for r in rows]
        row[key] = sum(values) if key in SUMMED else sum(values) / len(values)
    return row


def markdown_table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(header for header, _ in COLUMNS.values()) + " |",
             "|" + "|".join("---" if key == "clip" else "---:" for key in COLUMNS) + "|"]
    for row in rows:
        cells = [fmt.format(row[key]) for key, (_, fmt) in COLUMNS.items()]
        if row["clip"] == "mean":
            cells = [f"**{c}**" for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_reports(out_dir: str, rows: list[dict], curves: torch.Tensor, title: str) -> None:
    """rows: one per clip then the mean row; curves: (num_clips, phase_bins) body position error (mm) per phase bin."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "eval.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(COLUMNS))
        writer.writeheader()
        writer.writerows({k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()} for row in rows)
    with open(os.path.join(out_dir, "eval.md"), "w") as f:
        f.write(f"# Tracking evaluation\n\n{title}\n\n{markdown_table(rows)}\n\n"
                "Columns: docs/evaluation.md. Per-frame error over each clip's phase: eval_per_frame.png.\n")
    names = [row["clip"] for row in rows[: len(curves)]]
    num_bins = curves.shape[1]
    centres = [(i + 0.5) / num_bins for i in range(num_bins)]
    with open(os.path.join(out_dir, "eval_per_frame.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["clip", *(f"{c:.4f}" for c in centres)])
        writer.writerows([name, *("" if math.isnan(v) else f"{v:.2f}" for v in curve.tolist())]
                         for name, curve in zip(names, curves))
    plot_per_frame(os.path.join(out_dir, "eval_per_frame.png"), names, centres, curves)


def plot_per_frame(path: str, names: list[str], centres: list[float], curves: torch.Tensor) -> None:
    """One line per clip: mean body position error (mm) against the clip's phase."""
    import matplotlib

    matplotlib.use("Agg")  # headless: PNG output only
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    colors = plt.get_cmap("tab20" if len(names) > 10 else "tab10")
    for i, (name, curve) in enumerate(zip(names, curves)):
        ax.plot(centres, curve.tolist(), marker=".", label=name, color=colors(i % colors.N))
    ax.set_xlabel("clip phase")
    ax.set_ylabel("mean body position error (mm)")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(bottom=0.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", ncol=2 if len(names) > 10 else 1, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
