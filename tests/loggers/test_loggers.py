"""txt log written and parsable, TensorBoard events readable, W&B offline run created, console bar quiet off-TTY."""
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from mimickit.config import register_configs
from mimickit.loggers import RunLogger, TxtLogger, read_txt_log
from mimickit.loggers.progress import ConsoleProgress
from mimickit.loggers.txt_logger import select_columns

ROOT = Path(__file__).resolve().parents[2]
ROWS = [
    {"iteration": 1, "samples": 100, "train/return": 1.5, "loss/actor": -0.25},
    {"iteration": 2, "samples": 200, "train/return": 2.5, "loss/actor": float("nan")},
    {"iteration": 3, "samples": 300, "train/return": 3.5},
]
# every setting of the loggers (conf/logger/*.yaml writes the runs' ones); TXT writes every column
TXT = {"filename": "log.txt", "columns": "all", "short_columns": [], "column_width": 24, "step_key": "samples"}
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
    logger = TxtLogger(str(tmp_path), **{**TXT, "column_width": 8})
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


def test_select_columns_globs_exclusions_and_order():
    keys = ["iteration", "samples", "train/episode/tracking_error", "train/episode/reward_pose", "disc/accuracy",
            "actor/loss"]
    assert select_columns(keys, ["samples", "disc/*", "train/episode/*", "!train/episode/reward_*", "nope"]) == [
        "samples", "disc/accuracy", "train/episode/tracking_error"]
    assert select_columns(keys, ["*", "!*/*"]) == ["iteration", "samples"]  # `*` crosses `/`
    assert select_columns(keys, ["*loss", "actor/loss"]) == ["actor/loss"]  # each key once


# the keys each method logs (as in docs/results/*_log.txt), and what a person reads of them
COMMON = ["iteration", "samples", "wall_time_s", "samples_per_s", "time/iteration_s", "train/return",
          "train/episode_length", "train/episodes", "policy/action_std", "obs_norm/mean_abs", "critic/loss",
          "actor/loss", "actor/clip_frac", "actor/approx_kl", "time/policy_s", "time/update_s", "sim/unstable_resets",
          "sim/unstable_resets_total", "test/return", "test/episode_length", "test/episodes"]
DISC = ["disc/reward_mean", "disc/reward_std", "disc/loss", "disc/grad_penalty", "disc/accuracy", "disc/pos_logit"]
TRACKING = ["tracking_error", "reward_pose", "reward_vel", "reward_root_pose", "reward_root_vel", "reward_key_pos"]
METHODS = {  # method: (episode metrics of the env, other keys, what the short set must show besides the core)
    "deepmimic": (TRACKING, [], ["train/episode/tracking_error", "test/episode/tracking_error"]),
    "add": (TRACKING, DISC, ["train/episode/tracking_error", "disc/accuracy"]),
    "amp": (["root_speed"], DISC, ["train/episode/root_speed", "disc/accuracy", "disc/reward_mean"]),
    "ase": (["root_speed"], [*DISC, "enc/reward_mean", "enc/loss", "actor/diversity_loss", "actor/diversity_ratio"],
            ["train/episode/root_speed", "disc/accuracy", "enc/reward_mean", "actor/diversity_ratio"]),
    "amp_location": (["root_speed", "tar_reached", "tar_final_dist", "tar_dist", "root_height", "tilt_deg",
                      "reward_pos", "reward_vel", "reward_face"], DISC,
                     ["train/episode/tar_reached", "train/episode/tar_final_dist", "test/episode/tar_reached",
                      "train/episode/tilt_deg", "disc/accuracy"]),
    "amp_steering": (["root_speed", "speed_err", "heading_err_deg", "root_height", "reward_vel", "reward_face"], DISC,
                     ["train/episode/speed_err", "train/episode/heading_err_deg", "test/episode/speed_err"]),
    "ase_hlc": (["tar_reached", "tar_dist", "reward_pos"], ["style/reward_mean", "style/reward_std", "hlc/action_norm"],
                ["train/episode/tar_reached", "style/reward_mean", "hlc/action_norm"]),
}
CORE = ["iteration", "samples", "wall_time_s", "samples_per_s", "train/return", "train/episode_length", "test/return",
        "test/episode_length", "sim/unstable_resets_total"]


def _txt_settings():
    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return OmegaConf.to_container(compose(config_name="config", overrides=["~motion"]).logger.txt)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_short_columns_show_what_each_method_is_read_by(method, tmp_path):
    """conf/logger/txt.yaml's short set: the core columns, the env's episode metrics (not its reward terms) and the
    method's own few; losses, timings and the rest stay in TensorBoard and metrics.json."""
    episode, extra, wanted = METHODS[method]
    keys = [*COMMON, *extra, *(f"{p}/episode/{name}" for p in ("train", "test") for name in episode)]
    logger = TxtLogger(str(tmp_path), **_txt_settings())
    logger.log({key: 1.0 for key in keys}, step=1)
    logger.close()
    header = list(read_txt_log(str(tmp_path / "log.txt")))
    assert set(CORE) | set(wanted) <= set(header) and header[:2] == ["iteration", "samples"]
    assert not [k for k in header if "reward_" in k.split("/")[-1] and "episode/" in k], header
    assert not [k for k in header if k.endswith("loss") or k.startswith(("time/", "critic/", "policy/"))], header
    assert len(header) <= 24, header  # the most: a task env's six episode metrics, train and test (of 50 keys)


def test_column_choices_all_a_list_and_the_step_key(tmp_path):
    row = {"iteration": 1, "samples": 10, "actor/loss": 0.5, "disc/accuracy": 0.75, "time/env_s": 0.1}
    chosen = ["samples", "disc/accuracy", "actor/loss"]  # samples: the step_key, written though not chosen
    for columns, expected in (("all", list(row)), (["disc/*", "actor/loss"], chosen)):
        logger = TxtLogger(str(tmp_path / str(len(expected))), **{**TXT, "columns": columns})
        logger.log(row, step=10)
        logger.log({**row, "new/key": 1.0} if columns != "all" else row, step=20)  # keys left out may come later
        logger.close()
        assert list(read_txt_log(str(tmp_path / str(len(expected)) / "log.txt"))) == expected
    logger = TxtLogger(str(tmp_path / "late"), **{**TXT, "columns": ["disc/*"]})
    logger.log({"samples": 1}, step=1)
    with pytest.raises(ValueError, match=r"\['disc/accuracy'\] were not in the first record"):
        logger.log({"samples": 2, "disc/accuracy": 0.5}, step=2)  # a chosen key the first record lacked
    with pytest.raises(ValueError, match="short, all or a list"):
        TxtLogger(str(tmp_path), **{**TXT, "columns": "most"})


def test_columns_fit_their_names_and_values_and_rows_stay_aligned(tmp_path):
    logger = TxtLogger(str(tmp_path), **{**TXT, "columns": "all", "column_width": 14})
    logger.log({"samples": 10**15, "x": 1.5, "train/episode/tracking_error": 0.25, "y": 2}, step=1)
    logger.log({"samples": 2, "x": -1.2345678e-05, "train/episode/tracking_error": float("nan"), "y": 3}, step=2)
    logger.close()
    header, wide, row = (tmp_path / "log.txt").read_text().splitlines()

    def starts(line):
        return [m.start() for m in re.finditer(r"\S+", line)]

    assert starts(header) == starts(row) == [0, 15, 30, 59]  # as wide as the name or the widest value (14)
    # a cell wider than its column (16 digits) pushes the next one right; the row is back in line after it
    assert starts(wide) == [0, 17, 30, 59]


def test_resumed_log_with_another_column_choice_keeps_the_union(tmp_path):
    short = {**TXT, "columns": ["train/return"]}
    first = TxtLogger(str(tmp_path), **short)
    for row in ROWS:
        first.log(row, step=row["samples"])
    first.close()
    resumed = TxtLogger(str(tmp_path), **TXT)  # resumed with columns=all
    resumed.log({"iteration": 4, "samples": 400, "train/return": 4.5, "loss/actor": 1.0}, step=400)
    resumed.close()
    log = read_txt_log(str(tmp_path / "log.txt"))
    assert list(log) == ["samples", "train/return", "iteration", "loss/actor"]
    assert log["samples"].tolist() == [100, 200, 300, 400] and log["train/return"].tolist() == [1.5, 2.5, 3.5, 4.5]
    assert log["iteration"].tolist()[3] == 4 and all(math.isnan(v) for v in log["iteration"][:3])


def test_a_training_run_writes_the_short_set_and_keeps_every_metric_elsewhere(tmp_path):
    """A tiny DeepMimic run through the CLI: log.txt holds the short set (tracking error included), metrics.json and
    TensorBoard every metric; logger.txt.columns=all writes them all into log.txt too."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def train(run_dir, *overrides):
        out = subprocess.run([sys.executable, "-m", "mimickit.run", "num_envs=4", "max_iters=2", "test_episodes=0",
                              "algo.steps_per_iter=4", "algo.iters_per_output=1", "sim.nthread=1",
                              "algo.model.actor_hidden_dims=[32]", "algo.model.critic_hidden_dims=[32]",
                              "logger.progress=false", *overrides, f"hydra.run.dir={run_dir}"], cwd=ROOT,
                             env={**os.environ, "PYTHONUNBUFFERED": "1"}, capture_output=True, text=True, timeout=300,
                             check=False)
        assert out.returncode == 0, out.stderr[-3000:]
        return list(read_txt_log(str(run_dir / "log.txt"))), json.loads((run_dir / "metrics.json").read_text())

    short, metrics = train(tmp_path / "short", "logger=tb")
    assert {"samples", "train/return", "train/episode/tracking_error", "sim/unstable_resets_total"} <= set(short)
    assert "actor/loss" not in short and "train/episode/reward_pose" not in short and len(short) < 15
    assert {"actor/loss", "critic/loss", "train/episode/reward_pose", "time/update_s"} <= set(metrics)
    events = EventAccumulator(str(tmp_path / "short" / "tb"))
    events.Reload()
    assert {"actor/loss", "train/episode/reward_pose"} <= set(events.Tags()["scalars"])
    every, _ = train(tmp_path / "all", "logger.txt.columns=all")
    assert set(short) < set(every) and {"actor/loss", "time/update_s", "train/episode/reward_pose"} <= set(every)


def test_compare_logs_reads_ratios_at_equal_samples_and_threshold_times(tmp_path):
    """Two logs of a tracking error falling linearly, one twice the other: 2x at every shared sample count, a
    missing value past the shorter log, and the first logged row under the threshold."""
    for name, scale, rows in (("a", 1.0, 5), ("b", 2.0, 3)):
        logger = TxtLogger(str(tmp_path / name), **TXT)
        for i in range(1, rows + 1):
            logger.log({"samples": 10.0e6 * i, "wall_time_s": 60.0 * i,
                        "train/episode/tracking_error": scale * (0.3 - 0.05 * i)}, step=i)
        logger.close()
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "compare_logs.py"), str(tmp_path / "a" / "log.txt"),
                          str(tmp_path / "b" / "log.txt"), "--at", "15e6", "45e6", "--threshold", "0.1"],
                         check=True, capture_output=True, text=True).stdout
    assert "15.0M  0.225 (1.00x)  0.45 (2.00x)" in out
    assert "45.0M  0.075 (1.00x)  nan" in out
    assert "a/log.txt: train/episode/tracking_error <= 0.1 at 40.0M samples, 240 s" in out
    assert "b/log.txt: train/episode/tracking_error <= 0.1 not reached" in out
