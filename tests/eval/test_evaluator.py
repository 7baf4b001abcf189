"""The evaluator's pieces without a simulator: the episode plan, the per-episode sums and the per-clip table."""
import inspect
import math
from pathlib import Path

import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException

from mimickit.config import register_configs, validate_target
from mimickit.eval.evaluator import (
    EpisodePlan,
    EpisodeStats,
    TrackingEvaluator,
    clip_names,
    plan_episodes,
    summarize_clips,
)
from mimickit.eval.metrics import FrameErrors
from mimickit.eval.report import COLUMNS, markdown_table, mean_row


def test_plan_starts_each_clip_at_zero_then_at_random_phases():
    lengths = torch.tensor([1.0, 0.5])
    plan = plan_episodes(lengths, random_starts=3, dt=0.1, max_steps=100, generator=torch.Generator().manual_seed(0))
    assert plan.motion_ids.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert plan.start_times[0] == 0 and plan.start_times[4] == 0
    assert plan.num_steps[0] == 10 and plan.num_steps[4] == 5  # the whole clip, in control steps
    assert ((plan.start_times >= 0) & (plan.start_times < lengths[plan.motion_ids])).all()
    remaining = (lengths[plan.motion_ids] - plan.start_times) / 0.1
    assert ((plan.num_steps >= remaining - 1e-4) & (plan.num_steps < remaining + 1)).all()
    again = plan_episodes(lengths, 3, 0.1, 100, torch.Generator().manual_seed(0))
    assert torch.equal(again.start_times, plan.start_times)  # the seed fixes the starts
    short = plan_episodes(lengths, 3, 0.1, max_steps=4, generator=torch.Generator().manual_seed(0))
    assert short.num_steps.max() == 4  # the env's episode length limit


def frame(body_pos):
    body_pos = torch.tensor(body_pos)
    return FrameErrors(body_pos=body_pos, mpjpe=body_pos / 2, joint_angle=body_pos * 0 + 0.1, root_drift=body_pos * 3)


def test_an_episode_ends_when_it_falls_passes_the_threshold_or_its_clip_ends():
    stats = EpisodeStats(num_envs=4, phase_bins=2, device=torch.device("cpu"))
    no = torch.zeros(4, dtype=torch.bool)
    in_clip = torch.tensor([True, True, True, False])  # env 3's episode is one frame shorter
    stats.add(frame([0.1, 0.1, 0.1, 0.1]), torch.ones(4, dtype=torch.bool), no, torch.zeros(4, dtype=torch.long), 0.5)
    stats.add(frame([0.2, 0.6, float("nan"), 0.2]), in_clip, torch.tensor([True, False, False, False]),
              torch.ones(4, dtype=torch.long), 0.5)  # env 0 falls, env 1 drifts past 0.5 m, env 2 blows up
    stats.add(frame([0.3, 0.3, 0.3, 0.3]), in_clip, no, torch.ones(4, dtype=torch.long), 0.5)  # counts for none
    assert stats.failed.tolist() == [True, True, True, False]
    assert stats.frames.tolist() == [2, 2, 1, 1]  # the blown-up frame fails the episode and is not counted
    torch.testing.assert_close(stats.body_pos_err, torch.tensor([0.3, 0.7, 0.1, 0.1]))
    torch.testing.assert_close(stats.mpjpe, torch.tensor([0.15, 0.35, 0.05, 0.05]))
    torch.testing.assert_close(stats.max_body_pos_err, torch.tensor([0.2, 0.6, 0.1, 0.1]))
    torch.testing.assert_close(stats.root_drift, torch.tensor([0.6, 1.8, 0.3, 0.3]))  # at the last counted frame
    torch.testing.assert_close(stats.bin_err, torch.tensor([[0.1, 0.2], [0.1, 0.6], [0.1, 0.0], [0.1, 0.0]]))
    assert stats.bin_frames.tolist() == [[1, 1], [1, 1], [1, 0], [1, 0]]


def test_clip_rows_and_the_mean_row():
    plan = EpisodePlan(torch.tensor([0, 0, 1]), torch.zeros(3), torch.tensor([2, 2, 1]))
    episodes = {
        "frames": torch.tensor([2.0, 1.0, 1.0]),
        "body_pos_err": torch.tensor([0.2, 0.1, 0.05]),  # m, summed over frames
        "mpjpe": torch.tensor([0.1, 0.05, 0.02]),
        "joint_angle_err": torch.tensor([0.3, 0.3, 0.1]),
        "max_body_pos_err": torch.tensor([0.15, 0.6, 0.05]),
        "root_drift": torch.tensor([0.1, 0.3, 0.0]),
        "failed": torch.tensor([False, True, False]),
        "bin_err": torch.tensor([[0.1, 0.1], [0.1, 0.0], [0.05, 0.0]]),
        "bin_frames": torch.tensor([[1.0, 1.0], [1.0, 0.0], [1.0, 0.0]]),
    }
    rows, curves = summarize_clips(plan, episodes, ["a", "b"], [1.0, 0.5])
    a, b = rows
    assert a["episodes"] == 2 and a["success_rate"] == 0.5 and b["success_rate"] == 1.0
    assert a["body_pos_err_mm"] == pytest.approx(100.0)  # 0.3 m over 3 frames
    assert a["mpjpe_mm"] == pytest.approx(50.0) and a["joint_angle_err_rad"] == pytest.approx(0.2)
    assert a["max_body_pos_err_mm"] == pytest.approx(600.0) and a["root_drift_m"] == pytest.approx(0.2)
    torch.testing.assert_close(curves, torch.tensor([[100.0, 100.0], [50.0, math.nan]], dtype=torch.float64),
                               equal_nan=True)  # bin 2 of clip b: never reached
    mean = mean_row(rows)
    assert mean["clip"] == "mean" and mean["episodes"] == 3 and mean["success_rate"] == 0.75
    assert mean["body_pos_err_mm"] == pytest.approx(75.0)
    table = markdown_table([*rows, mean]).splitlines()
    assert len(table) == 5 and table[0].count("|") == len(COLUMNS) + 1 and "**mean**" in table[-1]


def test_clip_names_and_settings():
    assert clip_names(["x/walk.pkl", "y/run.pkl", "z/walk.pkl"]) == ["walk#0", "run", "walk#2"]
    with pytest.raises(ValueError, match="random_starts"):
        TrackingEvaluator(random_starts=-1, success_threshold=0.5, phase_bins=10, seed=0)


def test_eval_settings_are_all_in_their_yaml_and_checked():
    """conf/eval/default.yaml sets every keyword of the evaluator, none has a default in code; a wrong value or a
    misspelt key is refused before anything is built."""
    root = Path(__file__).resolve().parents[2]
    params = inspect.signature(TrackingEvaluator).parameters
    assert all(p.default is p.empty for p in params.values())
    written = yaml.safe_load((root / "conf/eval/default.yaml").read_text())
    assert set(written) - {"_target_"} == set(params)

    register_configs()
    with initialize_config_dir(config_dir=str(root / "conf"), version_base="1.3"):
        validate_target(compose(config_name="config").eval, "eval")
        with pytest.raises(ValueError, match="eval.random_starts"):
            validate_target(compose(config_name="config", overrides=["eval.random_starts=many"]).eval, "eval")
        with pytest.raises(ConfigCompositionException):
            compose(config_name="config", overrides=["eval.random_start=3"])
