"""scripts/sweep_summary.py on a sweep directory laid out as hydra-submitit-launcher leaves it (no cluster needed)."""
from __future__ import annotations

import csv
import importlib.util
import json
import pickle
import sys
from pathlib import Path

import pytest
import yaml
from hydra.core.utils import JobReturn, JobStatus
from submitit.helpers import DelayedSubmission

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("sweep_summary", REPO / "scripts" / "sweep_summary.py")
sweep_summary = importlib.util.module_from_spec(_spec)
sys.modules["sweep_summary"] = sweep_summary  # dataclasses look their module up there
_spec.loader.exec_module(sweep_summary)


def make_job(sweep: Path, num: int, job_id: str, overrides: list[str], metrics: dict | None = None,
             result: tuple | None = None, log_err: str = "") -> None:
    """A job directory (`<num>/.hydra/...`, metrics.json) plus its submitit folder (result pickle, logs)."""
    hydra_dir = sweep / str(num) / ".hydra"
    hydra_dir.mkdir(parents=True)
    (hydra_dir / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (hydra_dir / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"job": {"num": num, "id": job_id}}}))
    if metrics is not None:
        (sweep / str(num) / "metrics.json").write_text(json.dumps(metrics))
    folder = sweep / ".submitit" / job_id
    folder.mkdir(parents=True)
    (folder / f"{job_id}_submitted.pkl").write_bytes(pickle.dumps(DelayedSubmission(print, overrides, "d", num)))
    (folder / f"{job_id}_0_log.err").write_text(log_err)
    if result is not None:
        (folder / f"{job_id}_0_result.pkl").write_bytes(pickle.dumps(result))


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    ok = ("success", JobReturn(status=JobStatus.COMPLETED, _return_value=1.0))
    make_job(tmp_path, 0, "7_0", ["seed=0", "algo.lr=0.1"], {"return": 1.5, "iteration": 3, "test": {"len": 9}}, ok)
    make_job(tmp_path, 1, "7_1", ["seed=1", "algo.lr=0.1"], {"return": 2.5, "iteration": 3, "seed": 1}, ok)
    make_job(tmp_path, 2, "7_2", ["seed=2", "algo.lr=bad"],
             result=("success", JobReturn(status=JobStatus.FAILED, _return_value=ValueError("invalid 'algo' lr"))))
    make_job(tmp_path, 3, "7_3", ["seed=3", "algo.lr=0.1"], {"return": 0.5, "iteration": 1},
             log_err="submitit INFO - Job not requeued because: timed-out too many times.\n")
    make_job(tmp_path, 4, "7_4", ["seed=4", "algo.lr=0.1"])  # still running: no result, nothing in the logs
    # job 5 never made its Hydra directory: only the submitit folder, with submitit's own error record
    folder = tmp_path / ".submitit" / "7_5"
    folder.mkdir(parents=True)
    (folder / "7_5_submitted.pkl").write_bytes(pickle.dumps(DelayedSubmission(print, ["seed=5"], "d", 5)))
    (folder / "7_5_0_result.pkl").write_bytes(
        pickle.dumps(("error", "Traceback (most recent call last):\n  ...\nImportError: Error locating target 'x'\n")))
    return tmp_path


def test_statuses_and_reasons(sweep: Path):
    records = {r.num: r for r in sweep_summary.collect_sweep(sweep)}
    assert sorted(records) == [0, 1, 2, 3, 4, 5]
    assert {n: r.status for n, r in records.items()} == {
        0: "COMPLETED", 1: "COMPLETED", 2: "FAILED", 3: "FAILED", 4: "INCOMPLETE", 5: "FAILED"}
    assert records[2].reason == "ValueError: invalid 'algo' lr"
    assert "timed-out too many times" in records[3].reason
    assert records[5].reason == "ImportError: Error locating target 'x'"
    assert records[5].overrides == {"seed": "5"}
    assert records[0].overrides == {"seed": "0", "algo.lr": "0.1"}
    assert records[0].metrics == {"return": 1.5, "iteration": 3, "test/len": 9}


def test_cli_sorts_by_metric_and_writes_csv(sweep: Path, capsys):
    assert sweep_summary.main([str(sweep), "--metric", "return"]) == 0
    printed = capsys.readouterr().out
    assert "6 jobs: 2 completed, 3 failed, 1 incomplete" in printed
    with open(sweep / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["job"] for r in rows] == ["1", "0", "3", "2", "4", "5"], "best return first, jobs without it last"
    assert list(rows[0])[:6] == ["job", "job_id", "status", "seed", "algo.lr", "return"]
    assert rows[0]["metrics/seed"] == "1", "a metric named like an override column is renamed, not overwritten"
    assert rows[0]["seed"] == "1" and rows[2]["seed"] == "3"

    header = printed.splitlines()[0].split()
    assert "iteration" in header and "test/len" not in header and "metrics/seed" not in header  # the short set
    assert sweep_summary.main([str(sweep), "--all"]) == 0
    assert "test/len" in capsys.readouterr().out.splitlines()[0].split()
    assert sweep_summary.main([str(sweep), "--columns", "test/len"]) == 0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert "test/len" in header and "iteration" not in header and "seed" in header

    assert sweep_summary.main([str(sweep), "--metric", "return", "--ascending", "--csv", str(sweep / "a.csv")]) == 0
    with open(sweep / "a.csv") as f:
        assert [r["job"] for r in csv.DictReader(f)][:3] == ["3", "0", "1"]


def test_clear_errors(sweep: Path, tmp_path: Path, capsys):
    assert sweep_summary.main([str(sweep), "--metric", "nope"]) == 2
    assert "known metrics" in capsys.readouterr().err
    assert sweep_summary.main([str(tmp_path / "missing")]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert sweep_summary.main([str(empty)]) == 2
    assert "no Hydra jobs" in capsys.readouterr().err


def test_sacct_array_ranges():
    assert sweep_summary._expand_array_id("8_[1-3,5%2]") == ["8_1", "8_2", "8_3", "8_5"]
    assert sweep_summary._expand_array_id("8_0") == ["8_0"]
    assert sweep_summary._expand_array_id("14") == ["14"]
