"""disc_attribution: integrated gradients and the part shares on functions whose answer is known, and the tool end to
end on a tiny ADD checkpoint (CPU engine): every part in the table and the JSON, shares summing to 1, and
checkpoints without an ADD discriminator refused."""
import json
import math

import pytest
import torch

from deploy_helpers import TINY, train_tiny
from mimickit.models.mlp import MLP
from mimickit.tools import disc_attribution as da
from mimickit.tools.export_policy import export_policy

PARTS = {"a": torch.tensor([0, 1, 2]), "b": torch.tensor([3, 4, 5, 6, 7]), "c": torch.tensor([8, 9])}
PART_NAMES = {"root_pos", "root_rot", "joint_rot", "body_pos", "root_vel", "dof_vel"}
COMPLETENESS_TOL = 1e-4  # |sum of attributions - (f(x) - f(0))| of a smooth 2-layer net at 64 midpoint steps (~1e-5)
# a tiny ADD run on the procedural walk; its discriminator learns in two iterations (lr, epochs) a logit gap of ~2
# (the 160M run's: ~2.9), not ~0, whose shares would be ratios of integration errors; tanh keeps it smooth
TINY_ADD = [*TINY, "experiment=add_humanoid_spinkick", "motion=procedural_walk", "algo.discriminator.hidden_dims=[32]",
            "algo.discriminator.activation=tanh", "algo.update.disc.epochs=10", "algo.update.disc.optimizer.lr=0.01"]


def random_net(dim: int, seed: int) -> MLP:
    torch.manual_seed(seed)
    return MLP(dim, 1, [32, 32], "tanh").double()


def test_attributions_sum_to_the_change_of_the_function_and_one_step_does_not():
    net = random_net(10, 0)
    fn = lambda x: net(x).squeeze(-1)  # noqa: E731
    x = 2.0 * torch.randn(64, 10, dtype=torch.float64)
    change = (fn(x) - fn(torch.zeros_like(x))).detach()
    fine = da.integrated_gradients(fn, x, steps=64)
    coarse = da.integrated_gradients(fn, x, steps=1)
    assert fine.shape == x.shape
    assert (fine.sum(dim=1) - change).abs().max() < COMPLETENESS_TOL
    # one step (the gradient at x / 2, times x) misses a nonlinear function's change by far more
    assert (coarse.sum(dim=1) - change).abs().max() > 20 * COMPLETENESS_TOL
    # a linear function's attributions are exact at any step count: w_i x_i
    w = torch.randn(10, dtype=torch.float64)
    torch.testing.assert_close(da.integrated_gradients(lambda v: v @ w, x, steps=1), x * w)


def test_a_discriminator_of_one_part_gets_the_whole_share():
    net = random_net(len(PARTS["b"]), 1)
    logit = lambda d: net(d[:, PARTS["b"]]).squeeze(-1)  # noqa: E731
    d = torch.randn(200, 10, dtype=torch.float64)
    gap = (logit(torch.zeros_like(d[:1])) - logit(d)).detach()
    attr = -da.integrated_gradients(logit, d, steps=64)
    shares = da.part_shares(attr, PARTS, gap.sum())
    assert shares["b"] == pytest.approx(1.0, abs=1e-3) and shares["a"] == 0.0 and shares["c"] == 0.0
    # without a total, the shares of the attributions themselves, summing to 1 exactly
    w = torch.tensor([1.0, 0, 0, 1, 1, 0, 0, 0, 2, 0], dtype=torch.float64)
    linear = da.part_shares(da.integrated_gradients(lambda v: v @ w, torch.ones(3, 10, dtype=torch.float64), 1), PARTS)
    assert linear == pytest.approx({"a": 0.2, "b": 0.4, "c": 0.4})


@pytest.fixture(scope="module")
def tiny_add(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("tiny_add"), *TINY_ADD)


def test_tool_splits_the_logit_over_every_part(tiny_add, tmp_path, capsys):
    output = tmp_path / "attribution.json"
    summary = da.main([f"model_file={tiny_add}", "num_envs=3", "steps=10", "sim.nthread=1",
                       f"output={output}"])
    printed = capsys.readouterr().out
    assert json.loads(output.read_text()) == summary
    assert summary["engine"] == "MujocoEngine" and summary["samples"] == 30
    assert set(summary["parts"]) == PART_NAMES
    for name, part in summary["parts"].items():
        assert f"\n{name} " in printed
        assert part["dims"] > 0 and part["mean_abs_diff"] > 0 and part["mean_abs_scaled_diff"] > 0
        assert all(math.isfinite(v) for v in part.values())
    assert sum(p["dims"] for p in summary["parts"].values()) == 172
    assert summary["gap_mean"] > 0.5  # the trained discriminator tells its samples from the zero difference
    assert summary["share_sum"] == pytest.approx(1.0, abs=0.01)  # 32 IG steps: ~0.1 %
    assert summary["completeness_residual"] == pytest.approx(1.0 - summary["share_sum"])
    for key in ("logit_zero", "logit_mean", "reward_mean", "tracking_error", "mpjpe", "completeness_residual_logit"):
        assert math.isfinite(summary[key]), key
    assert summary["reward_mean"] > 0 and summary["tracking_error"] > 0 and summary["mpjpe"] > 0
    assert "completeness residual" in printed and "mpjpe" in printed


def test_checkpoints_without_an_add_discriminator_are_refused(tiny_checkpoint, tiny_add, tmp_path):
    with pytest.raises(ValueError, match="env is mimickit.envs.deepmimic_env.DeepMimicEnv"):
        da.main([f"model_file={tiny_checkpoint}", "num_envs=2", "steps=2", "sim.nthread=1"])
    policy_file, _ = export_policy(str(tiny_add), str(tmp_path / "policy"))
    with pytest.raises(ValueError, match="policy file"):
        da.main([f"model_file={policy_file}", "num_envs=2", "steps=2", "sim.nthread=1"])
