"""Collect a Hydra sweep directory into one table: each job's overrides, status and final metrics.

    python scripts/sweep_summary.py multirun/2026-05-01/12-00-00 --metric return
    python scripts/sweep_summary.py <sweep_dir> --metric loss --ascending --csv losses.csv

A job is a directory holding `.hydra/overrides.yaml`; its metrics come from the `metrics.json` the trainer
writes there. With the submitit launchers (hydra/launcher=slurm|slurm_gpu|local) each job also has a folder
`<sweep_dir>/.submitit/<job id>/` with its logs and result pickle, which give the status and, for a failed job,
the reason (the exception, or the scheduler's message such as a cancellation or a time limit). Jobs that never
created their directory (failed or still pending) are found through those folders too.

Status: COMPLETED (finished and wrote metrics.json), FAILED (raised, was cancelled, or ran out of time) or
INCOMPLETE (no result yet: pending, running, requeued, or killed without a trace; or finished without metrics).
Result pickles are unpickled: only summarise sweeps you ran yourself.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import pickle
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

COMPLETED, FAILED, INCOMPLETE = "COMPLETED", "FAILED", "INCOMPLETE"

# Lines of submitit/SLURM logs that explain why a job stopped, most telling first.
_LOG_REASONS = (
    re.compile(r"Job not requeued because: .*"),
    re.compile(r"\*\*\* (?:JOB|STEP) \S+ ON \S+ CANCELLED .*"),
    re.compile(r"DUE TO TIME LIMIT"),
    re.compile(r".*[Oo]ut[ -]of[ -]memory.*|.*oom[-_]kill.*"),
)
_ACTIVE_STATES = {"PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "SUSPENDED", "COMPLETING",
                  "CONFIGURING", "RESIZING", "STAGE_OUT", "SIGNALING"}
_EXCEPTION_LINE = re.compile(r"^\w[\w.]*(Error|Exception|Interrupt|Exit)\b.*")


@dataclass
class JobRecord:
    """One sweep member as the summary shows it."""

    num: Optional[int]
    job_id: Optional[str]
    status: str
    overrides: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    job_dir: Optional[Path] = None


def parse_overrides(overrides: list[str]) -> dict[str, str]:
    """`["seed=1", "+x.y=2"]` -> `{"seed": "1", "x.y": "2"}` (Hydra's prefixes dropped)."""
    parsed = {}
    for item in overrides:
        key, _, value = item.partition("=")
        parsed[key.lstrip("+~")] = value
    return parsed


def flatten_metrics(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Scalars of a (nested) metrics dict, keyed `outer/inner`; lists and strings are left out."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_metrics(value, prefix=f"{name}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[name] = value
    return flat


def read_result(folder: Path, job_id: str) -> tuple[Optional[str], str]:
    """(status, reason) from submitit's result pickle of rank 0; (None, "") if the job has not ended."""
    path = folder / f"{job_id}_0_result.pkl"
    if not path.is_file():
        return None, ""
    try:
        with open(path, "rb") as f:
            outcome, value = pickle.load(f)
    except Exception as err:  # a pickle of another environment, or truncated by a kill
        return FAILED, f"unreadable result pickle: {type(err).__name__}: {err}"
    if outcome == "error":  # submitit's own failure record: a formatted traceback
        lines = [line for line in str(value).strip().splitlines() if line.strip()]
        return FAILED, lines[-1].strip() if lines else "error without a traceback"
    status = getattr(value, "status", None)
    if status is not None and status.name == "FAILED":
        err = value._return_value
        return FAILED, f"{type(err).__name__}: {err}"
    return COMPLETED, ""


def reason_from_logs(folder: Path, job_id: str) -> str:
    """The most telling line of the job's submitit/SLURM logs (cancellation, time limit, exception), or ""."""
    text = ""
    for suffix in ("err", "out"):
        path = folder / f"{job_id}_0_log.{suffix}"
        if path.is_file():
            text += path.read_text(errors="replace")
    for pattern in _LOG_REASONS:
        matches = pattern.findall(text)
        if matches:
            return matches[-1].strip()
    exceptions = [line.strip() for line in text.splitlines() if _EXCEPTION_LINE.match(line.strip())]
    return exceptions[-1] if exceptions else ""


def _expand_array_id(job_id: str) -> list[str]:
    """sacct's `8_[1-3,5%2]` (array tasks not started yet) -> ["8_1", "8_2", "8_3", "8_5"]."""
    match = re.fullmatch(r"(\d+)_\[([\d,\-]+)(?:%\d+)?\]", job_id)
    if not match:
        return [job_id]
    ids = []
    for part in match.group(2).split(","):
        first, _, last = part.partition("-")
        ids += [f"{match.group(1)}_{i}" for i in range(int(first), int(last or first) + 1)]
    return ids


def slurm_states(job_ids: list[str]) -> dict[str, str]:
    """SLURM's accounting state of each job (e.g. "CANCELLED by 0", "PENDING"); {} when sacct is unavailable."""
    parents = sorted({job_id.split("_")[0] for job_id in job_ids})
    if not parents or shutil.which("sacct") is None:
        return {}
    try:
        out = subprocess.run(["sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", ",".join(parents)],
                             capture_output=True, text=True, timeout=20, check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return {}
    states = {}
    for line in out.splitlines():
        sacct_id, _, state = line.partition("|")
        for job_id in _expand_array_id(sacct_id.strip()):
            states[job_id] = state.strip()
    return states


def unfinished_status(folder: Path, job_id: str, slurm_state: Optional[str]) -> tuple[str, str]:
    """(status, reason) of a job without a result pickle, from its logs and SLURM's accounting."""
    state = slurm_state.split()[0] if slurm_state else ""
    if state in _ACTIVE_STATES:  # the logs of a requeued job show its earlier kill
        return INCOMPLETE, f"SLURM: {slurm_state}"
    reason = reason_from_logs(folder, job_id)
    if reason:
        return FAILED, reason
    if slurm_state:
        return FAILED, f"SLURM: {slurm_state}" + (" without a result" if state == "COMPLETED" else "")
    return INCOMPLETE, "no result yet (pending, running, requeued, or killed)"


def read_hydra_job(job_dir: Path) -> tuple[Optional[int], Optional[str]]:
    """(hydra.job.num, hydra.job.id) as Hydra recorded them for this job."""
    hydra_yaml = job_dir / ".hydra" / "hydra.yaml"
    if not hydra_yaml.is_file():
        return None, None
    job = (yaml.safe_load(hydra_yaml.read_text()) or {}).get("hydra", {}).get("job", {})
    num, job_id = job.get("num"), job.get("id")
    return (int(num) if num is not None else None), (str(job_id) if job_id not in (None, "???") else None)


def collect_job(job_dir: Path, submitit_dir: Path, states: dict[str, str]) -> JobRecord:
    num, job_id = read_hydra_job(job_dir)
    overrides = parse_overrides(yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text()) or [])
    metrics_path = job_dir / "metrics.json"
    metrics, metrics_error = {}, ""
    if metrics_path.is_file():
        try:
            metrics = flatten_metrics(json.loads(metrics_path.read_text()))
        except (json.JSONDecodeError, AttributeError) as err:
            metrics_error = f"unreadable metrics.json: {err}"
    record = JobRecord(num=num, job_id=job_id, status=COMPLETED, overrides=overrides, metrics=metrics,
                       job_dir=job_dir)
    folder = submitit_dir / job_id if job_id else None
    if folder is not None and folder.is_dir():
        status, reason = read_result(folder, job_id)
        if status is None:
            status, reason = unfinished_status(folder, job_id, states.get(job_id))
        record.status, record.reason = status, reason
    if record.status == COMPLETED and not metrics_path.is_file():
        record.status, record.reason = INCOMPLETE, "finished without writing metrics.json"
    if metrics_error:
        record.status, record.reason = FAILED if record.status == FAILED else INCOMPLETE, metrics_error
    return record


def collect_unstarted(folder: Path, states: dict[str, str]) -> JobRecord:
    """A submitit job without a Hydra job directory: it failed before Hydra made it, or has not started."""
    job_id = folder.name
    num, overrides = None, {}
    try:
        with open(folder / f"{job_id}_submitted.pkl", "rb") as f:
            submission = pickle.load(f)  # args of the Hydra launcher's __call__: (overrides, dir key, job num, ...)
        overrides, num = parse_overrides(list(submission.args[0])), int(submission.args[2])
    except Exception as err:
        reason = f"unreadable submission pickle: {type(err).__name__}: {err}"
        return JobRecord(num=None, job_id=job_id, status=INCOMPLETE, reason=reason)
    status, reason = read_result(folder, job_id)
    if status is None:
        status, reason = unfinished_status(folder, job_id, states.get(job_id))
    elif status == COMPLETED:
        status, reason = INCOMPLETE, "finished without a job directory"
    return JobRecord(num=num, job_id=job_id, status=status, overrides=overrides, reason=reason)


def launched_on_slurm(sweep_dir: Path) -> bool:
    """Whether the sweep's launcher was SLURM's (then sacct knows its jobs), from the driver's multirun.yaml."""
    multirun = sweep_dir / "multirun.yaml"
    if not multirun.is_file():
        return False
    launcher = (yaml.safe_load(multirun.read_text()) or {}).get("hydra", {}).get("launcher") or {}
    return "Slurm" in str(launcher.get("_target_", ""))


def collect_sweep(sweep_dir: Path) -> list[JobRecord]:
    """Every job of the sweep, ordered by job number."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise FileNotFoundError(f"sweep directory not found: {sweep_dir}")
    submitit_dir = sweep_dir / ".submitit"
    job_folders = sorted(p.parent for p in submitit_dir.glob("*/*_submitted.pkl"))
    states = slurm_states([f.name for f in job_folders]) if launched_on_slurm(sweep_dir) else {}
    job_dirs = sorted(p.parent.parent for p in sweep_dir.rglob(".hydra/overrides.yaml")
                      if ".submitit" not in p.relative_to(sweep_dir).parts)
    records = [collect_job(d, submitit_dir, states) for d in job_dirs]
    seen_ids = {r.job_id for r in records if r.job_id}
    records += [collect_unstarted(f, states) for f in job_folders if f.name not in seen_ids]
    if not records:
        raise FileNotFoundError(f"no Hydra jobs (*/.hydra/overrides.yaml) or submitit jobs under {sweep_dir}")
    return sorted(records, key=lambda r: (r.num is None, r.num if r.num is not None else 0, r.job_id or ""))


def sort_by_metric(records: list[JobRecord], metric: str, ascending: bool = False) -> list[JobRecord]:
    """Best first; jobs without the metric (or with NaN) go last, in job order."""
    if not any(metric in r.metrics for r in records):
        known = sorted({k for r in records for k in r.metrics})
        raise KeyError(f"metric '{metric}' is in no job's metrics.json; known metrics: {known}")

    def key(r: JobRecord) -> tuple[bool, float]:
        value = r.metrics.get(metric, math.nan)
        if math.isnan(value):
            return True, 0.0
        return False, value if ascending else -value

    return sorted(records, key=key)


def table_columns(records: list[JobRecord], metric: Optional[str]) -> tuple[list[str], list[str]]:
    """Override keys in order of first appearance; metric names with the sort metric first."""
    override_keys = list(dict.fromkeys(k for r in records for k in r.overrides))
    metric_keys = sorted({k for r in records for k in r.metrics})
    if metric in metric_keys:
        metric_keys.remove(metric)
        metric_keys.insert(0, metric)
    return override_keys, metric_keys


def metric_column_names(records: list[JobRecord], metric: Optional[str]) -> dict[str, str]:
    """{metric key: its column}; a metric named like an override column becomes `metrics/<name>`."""
    override_keys, metric_keys = table_columns(records, metric)
    taken = {"job", "job_id", "status", "reason", *override_keys}
    return {k: f"metrics/{k}" if k in taken else k for k in metric_keys}


def to_rows(records: list[JobRecord], metric: Optional[str]) -> list[dict[str, str]]:
    """One row of strings per job: job, status, overrides, metrics, failure reason."""
    override_keys, _ = table_columns(records, metric)
    metric_columns = metric_column_names(records, metric)
    rows = []
    for r in records:
        row = {"job": "" if r.num is None else str(r.num), "job_id": r.job_id or "", "status": r.status}
        row.update({k: r.overrides.get(k, "") for k in override_keys})
        row.update({col: f"{r.metrics[k]:.6g}" if k in r.metrics else "" for k, col in metric_columns.items()})
        row["reason"] = r.reason
        rows.append(row)
    return rows


# metrics the printed table shows by default (the CSV keeps every one); --all or --columns choose others
SHORT_METRICS = ("return", "iteration", "samples", "wall_time_s", "train/return", "train/episode_length",
                 "train/episode/tracking_error", "test/return", "test/episode_length", "test/episode/tracking_error",
                 "disc/accuracy", "sim/unstable_resets_total")


def printed_columns(records: list[JobRecord], metric: Optional[str], chosen: Optional[list[str]]) -> list[str]:
    """What fits on a screen: job, status, overrides, the sort metric and the short metric set (or `chosen`), and
    the failure reason."""
    override_keys, _ = table_columns(records, metric)
    shown = {metric, *(chosen if chosen is not None else SHORT_METRICS)}
    metrics = [column for key, column in metric_column_names(records, metric).items() if key in shown]
    return ["job", "job_id", "status", *override_keys, *metrics, "reason"]


def format_table(rows: list[dict[str, str]], columns: Optional[list[str]] = None) -> str:
    columns = columns or list(rows[0])
    widths = {c: max(len(c), *(len(row[c]) for row in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(row[c].ljust(widths[c]) for c in columns) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def write_csv(rows: list[dict[str, str]], path: Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep_dir", type=Path, help="the sweep's hydra.sweep.dir (holds multirun.yaml)")
    parser.add_argument("--metric", help="metrics.json key to sort by (nested keys as outer/inner); default: job order")
    parser.add_argument("--ascending", action="store_true", help="lower is better (default: higher first)")
    parser.add_argument("--csv", type=Path, help="where to write the table (default: <sweep_dir>/summary.csv)")
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--all", action="store_true", help="print every metric (the CSV always has them all)")
    shown.add_argument("--columns", nargs="+", metavar="METRIC", help="print these metrics instead of the short set")
    args = parser.parse_args(argv)
    try:
        records = collect_sweep(args.sweep_dir)
        if args.metric:
            records = sort_by_metric(records, args.metric, args.ascending)
    except (FileNotFoundError, KeyError) as err:
        print(f"sweep_summary: {err.args[0]}", file=sys.stderr)
        return 2
    rows = to_rows(records, args.metric)
    csv_path = args.csv or args.sweep_dir / "summary.csv"
    write_csv(rows, csv_path)
    print(format_table(rows, None if args.all else printed_columns(records, args.metric, args.columns)))
    counts = {s: sum(r.status == s for r in records) for s in (COMPLETED, FAILED, INCOMPLETE)}
    print(f"\n{len(records)} jobs: " + ", ".join(f"{n} {s.lower()}" for s, n in counts.items()) + f"  (csv: {csv_path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
