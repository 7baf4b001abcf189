"""txt log written and parsable, TensorBoard events readable, W&B offline run created, console bar quiet off-TTY."""
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from mimickit.config import register_configs
from mimickit.loggers import RunLogger, TxtLogger, read_txt_log
from mimickit.loggers.progress import ConsoleProgress

ROOT = Path(__file__).resolve().parents[2]
ROWS = [
    {"iteration": 1, "samples": 100, "train/return": 1.5, "loss/actor": -0.25},
    {"iteration": 2, "samples": 200, "train/return": 2.5, "loss/actor": float("nan")},
    {"iteration": 3, "samples": 300, "train/return": 3.5},
]
# every setting of the loggers (conf/logger/*.yaml writes the runs' ones)
TXT = {"filename": "log.txt", "column_width": 24, "step_key": "samples"}
TB = {"subdir": "tb", "flush_secs": 1}
WANDB = {"project": "mimickit-test", "entity": None, "name": None, "group": None, "tags": [], "mode": "offline",
         "config": None}


def _write(logger):
    for row in ROWS:
        logger.log(row, step=row["samples"])
    logger.close()


def test_txt_log_columns_parse_back(tmp_path):
    _write(TxtLogger(str(tmp_path), **TXT))
    log = read_txt_log(str(tmp_path / "log.txt"))
    assert list(log) == ["iteration", "samples", "train/return", "loss/actor"]
    assert log["train/return"].tolist() == [1.5, 2.5, 3.5]
    assert log["loss/actor"][0] == -0.25 and all(math.isnan(v) for v in log["loss/actor"][1:])
    header = (tmp_path / "log.txt").read_text().splitlines()[0]
    assert header.split() == list(log)


def test_txt_log_rejects_new_columns_and_bad_keys(tmp_path):
    logger = TxtLogger(str(tmp_path), **TXT)
    logger.log({"a": 1.0}, step=0)
    with pytest.raises(ValueError, match=r"\['b'\] were not in the first record"):
        logger.log({"a": 1.0, "b": 2.0}, step=1)
    with pytest.raises(ValueError, match="whitespace"):
        logger.log({"a b": 1.0}, step=2)


def test_resumed_txt_log_keeps_only_earlier_rows(tmp_path):
    _write(TxtLogger(str(tmp_path), **TXT))
    resumed = TxtLogger(str(tmp_path), **TXT)
    resumed.log({**ROWS[0], "iteration": 3, "samples": 300, "train/return": 9.0}, step=300)
    resumed.close()
    log = read_txt_log(str(tmp_path / "log.txt"))
    assert log["samples"].tolist() == [100, 200, 300] and log["train/return"].tolist() == [1.5, 2.5, 9.0]


def test_resumed_txt_log_with_other_columns_keeps_every_earlier_row(tmp_path):
    """A resumed run without test episodes logs no test/* columns but a new one: the header becomes the union."""
    first = TxtLogger(str(tmp_path), **TXT)
    for row in ROWS:
        first.log({**row, "test/return": row["iteration"] * 10.0}, step=row["samples"])
    first.close()
    resumed = TxtLogger(str(tmp_path), **TXT)
    resumed.log({"iteration": 3, "samples": 300, "train/return": 9.0, "sim/unstable_resets": 4}, step=300)
    resumed.log({"iteration": 4, "samples": 400, "test/return": 7.0}, step=400)  # old columns may be filled again
    resumed.close()
    log = read_txt_log(str(tmp_path / "log.txt"))
    assert list(log) == ["iteration", "samples", "train/return", "loss/actor", "test/return", "sim/unstable_resets"]
    assert log["samples"].tolist() == [100, 200, 300, 400]  # the old row at 300 gave way to the resumed one
    assert log["train/return"].tolist()[:3] == [1.5, 2.5, 9.0] and math.isnan(log["train/return"][3])
    assert log["test/return"].tolist()[:2] == [10.0, 20.0] and math.isnan(log["test/return"][2])
    assert log["test/return"][3] == 7.0
    assert [math.isnan(v) for v in log["sim/unstable_resets"]] == [True, True, False, True]
    assert log["sim/unstable_resets"][2] == 4


def test_tensorboard_event_files_are_readable(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _write(RunLogger(str(tmp_path), txt=TXT, tb=TB, wandb=None, progress=False))
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert {"train/return", "loss/actor", "iteration"} <= set(events.Tags()["scalars"])
    scalars = events.Scalars("train/return")
    assert [s.step for s in scalars] == [100, 200, 300] and [s.value for s in scalars] == [1.5, 2.5, 3.5]
    assert (tmp_path / "log.txt").is_file()  # the text log is always written


def test_wandb_offline_run_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    logger = RunLogger(str(tmp_path), txt=TXT, tb=None, wandb=WANDB, progress=False)
    run_dir = Path(logger.loggers[1].run_dir).parent
    _write(logger)
    assert run_dir.is_dir() and run_dir.name.startswith("offline-run-")
    assert list(run_dir.glob("*.wandb")), sorted(p.name for p in run_dir.iterdir())
    assert (tmp_path / "log.txt").is_file()
    with pytest.raises(ValueError, match="unknown wandb mode"):
        RunLogger(str(tmp_path), txt=TXT, tb=None, wandb={**WANDB, "mode": "sometimes"}, progress=False)


def test_logger_configs_instantiate(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        kinds = {}
        for name in ["txt", "tb", "wandb"]:
            cfg = compose(config_name="config", overrides=["~motion", f"logger={name}", "logger.wandb.mode=offline"]
                          if name == "wandb" else ["~motion", f"logger={name}"])
            logger = instantiate(cfg.logger, out_dir=str(tmp_path / name))
            kinds[name] = [type(lg).__name__ for lg in logger.loggers]
            logger.close()
    assert kinds["txt"] == ["TxtLogger", "ConsoleProgress"]
    assert kinds["tb"] == ["TxtLogger", "TensorBoardLogger", "ConsoleProgress"]
    assert kinds["wandb"] == ["TxtLogger", "WandbLogger", "ConsoleProgress"]


def test_console_progress_draws_a_bar_in_a_terminal(capsys):
    bar = ConsoleProgress(bar=True)
    bar.progress({"iteration": 2, "max_iters": 10, "samples_per_s": 1234.0, "train/return": 3.25,
                  "train/episode_length": 17.0}, step=2)
    bar.log({"iteration": 2, "train/return": 3.25}, step=2)  # records print nothing beside the bar
    out = capsys.readouterr().out
    assert "2/10" in out and "sps=1234" in out and "return=3.25" in out and "ep_len=17.0" in out
    assert "it/s" not in out and "iteration 2" not in out  # no tqdm rate (wrong after a resume)
    bar.progress({"iteration": 10, "max_iters": 10}, step=10)
    assert bar._bar is None  # closed at the last iteration, before the run's closing log line


def test_console_progress_prints_a_line_per_record_when_piped(capsys):
    piped = ConsoleProgress(bar=None)  # pytest captures stdout: not a terminal
    for it in (1, 2):
        piped.progress({"iteration": it, "max_iters": 4, "samples": 64.0 * it, "samples_per_s": 500.0,
                        "train/return": 2.0 + it}, step=it)
    assert capsys.readouterr().out == ""  # nothing per iteration
    piped.log({"iteration": 2, "samples": 128.0, "train/return": 4.0, "test/return": 5.5}, step=128)
    piped.close()
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("iteration 2/4 ")
    assert "samples 128" in out and "sps 500" in out and "return 4" in out and "test 5.5" in out


def test_txt_log_rows_stay_under_long_headers(tmp_path):
    logger = TxtLogger(str(tmp_path), filename="log.txt", column_width=8, step_key="samples")
    logger.log({"samples": 1, "train/episode/tracking_error": 0.25, "x": 3.0}, step=1)
    logger.close()
    header, row = (tmp_path / "log.txt").read_text().splitlines()
    assert [header.index(name) for name in header.split()] == [row.index(cell) for cell in row.split()]


def test_plot_script_writes_png(tmp_path):
    _write(TxtLogger(str(tmp_path), **TXT))
    out = tmp_path / "plot.png"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "plot_log.py"), str(tmp_path / "log.txt"),
                    "-x", "samples", "-y", "train/return", "loss/actor", "-o", str(out)], check=True)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "plot_log.py"), str(tmp_path / "log.txt"),
                          "-y", "nope", "-o", str(out)], capture_output=True, text=True)
    assert bad.returncode != 0 and "no columns ['nope']" in bad.stderr
    # without -o the plot lands beside the log, not in the working directory
    subprocess.run([sys.executable, str(ROOT / "scripts" / "plot_log.py"), str(tmp_path / "log.txt"), "-y",
                    "train/return"], check=True, cwd=ROOT)
    assert (tmp_path / "log.png").is_file() and not (ROOT / "log.png").exists()
