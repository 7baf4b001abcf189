"""episode_breakdown: test episodes split by how they ended, on synthetic episodes and end to end on a tiny
DeepMimic checkpoint, whose means must be mode=test's."""
import json

import pytest
import torch
from deploy_helpers import run_module

from mimickit.envs.base_env import DoneFlags
from mimickit.tools.episode_breakdown import breakdown, by_start_clip

F, T = int(DoneFlags.FAIL), int(DoneFlags.TIME)


def test_failed_and_timed_out_episodes_are_averaged_apart():
    episodes = {"episode/err": torch.tensor([0.1, 0.3, 2.0, 0.2]), "done": torch.tensor([T, T, F, T])}
    result = breakdown(episodes)
    err = result["stats"]["episode/err"]
    assert result["episodes"] == 4 and result["failed_share"] == 0.25
    assert err["mean"] == pytest.approx(0.65) and err["timed_out"] == pytest.approx(0.2)
    assert err["failed"] == pytest.approx(2.0) and err["from_failed"] == pytest.approx(0.5)
    assert err["q50"] == pytest.approx(0.25)
    no_failures = breakdown({"episode/err": torch.tensor([1.0]), "done": torch.tensor([T])})
    assert no_failures["stats"]["episode/err"]["failed"] is None and no_failures["failed_share"] == 0


def test_episodes_are_grouped_by_the_clip_their_env_started_on():
    episodes = {"return": torch.tensor([1.0, 3.0, 5.0]), "done": torch.tensor([F, T, F]), "env": torch.tensor([2, 0, 1])}
    table = by_start_clip(episodes, start_clips=torch.tensor([1, 0, 0]), clip_names=["walk", "run", "jog"])
    assert table == {"walk": {"episodes": 2, "failed_share": 1.0, "return": 3.0},
                     "run": {"episodes": 1, "failed_share": 0.0, "return": 3.0}}


def test_the_tool_reports_mode_tests_episodes(tiny_checkpoint, tmp_path):
    output = tmp_path / "breakdown.json"
    out = run_module("mimickit.tools.episode_breakdown", f"model_file={tiny_checkpoint}", "episodes=8",
                     f"output={output}")
    assert out.returncode == 0, out.stderr[-3000:]
    table = out.stdout
    assert "episodes" in table and "failed" in table and "start clip" in table
    result = json.loads(output.read_text())
    test_dir = tmp_path / "test"
    out = run_module("mimickit.run", "mode=test", f"model_file={tiny_checkpoint}", "num_envs=8", "test_episodes=8",
                     f"hydra.run.dir={test_dir}")
    assert out.returncode == 0, out.stderr[-3000:]
    metrics = json.loads((test_dir / "metrics.json").read_text())
    assert result["episodes"] == metrics["episodes"] == 8
    assert result["failed_share"] > 0  # a 2-iteration tracking policy falls
    for key, row in result["stats"].items():
        assert row["mean"] == pytest.approx(metrics[key], rel=1e-5), key
        parts = [(row["failed"] or 0.0) * result["failed_share"], (row["timed_out"] or 0.0) * (1 - result["failed_share"])]
        assert sum(parts) == pytest.approx(row["mean"], rel=1e-5), key
    assert set(result["stats"]) == {k for k in metrics if k not in ("episodes", "standard_error")}
    clips = result["by_start_clip"]  # DeepMimic starts its episodes on clip frames: here the one procedural walk
    assert sum(row["episodes"] for row in clips.values()) == 8
    assert sum(row["failed_share"] * row["episodes"] for row in clips.values()) == pytest.approx(8 * result["failed_share"])
