"""latent_spread: the analysis of variance across latents on synthetic features, and the tool end to end on a tiny
ASE checkpoint (CPU engine): JSON written, latents unit vectors held fixed through the rollout."""
import json

import numpy as np
import pytest
import torch
from deploy_helpers import run_module
from scipy import stats

from mimickit.agents.ase import load_low_level_policy
from mimickit.tools import latent_spread


def test_features_that_follow_the_latent_spread_between_latents_and_others_do_not():
    rng = np.random.default_rng(0)
    num_latents, per_latent = 40, 30
    ids = np.repeat(np.arange(num_latents), per_latent)
    offsets = rng.normal(size=(num_latents, 3))
    follows = offsets[ids] + 0.3 * rng.normal(size=(len(ids), 3))
    ignores = rng.normal(size=(len(ids), 3))
    high = latent_spread.spread_statistics(follows, ids)
    null = latent_spread.spread_statistics(ignores, ids)
    assert high["F"] > 50 and high["eta2"] > 0.8
    assert 0.7 < null["F"] < 1.4 and null["eta2"] < 0.1
    assert high["between_std"] == pytest.approx(offsets.std(axis=0, ddof=1).mean(), rel=0.1)
    assert high["within_std"] == pytest.approx(0.3, rel=0.05)
    assert null["within_std"] == pytest.approx(1.0, rel=0.05)


def test_one_feature_matches_scipy_one_way_anova_with_unequal_groups():
    rng = np.random.default_rng(1)
    ids = np.array([0] * 3 + [1] * 5 + [2] * 4)
    x = rng.normal(size=(len(ids), 1)) + ids[:, None] * 0.5
    result = latent_spread.spread_statistics(x, ids)
    expected = stats.f_oneway(*(x[ids == i, 0] for i in range(3)))
    assert result["F"] == pytest.approx(expected.statistic)
    assert result["latents"] == 3 and result["envs"] == 12


def test_identical_envs_of_one_latent_leave_f_undefined_but_measure_the_between_spread():
    ids = np.repeat(np.arange(3), 4)
    x = np.array([0.0, 1.0, 2.0])[ids][:, None]
    result = latent_spread.spread_statistics(x, ids)
    assert result["F"] is None and result["eta2"] == 1.0 and result["between_std"] == pytest.approx(1.0)
    assert latent_spread.spread_statistics(x[:3], ids[:3])["F"] is None  # one env per latent: no within spread


def test_cli_writes_the_statistics_of_every_feature_group(tiny_ase, tmp_path):
    output = tmp_path / "spread.json"
    out = run_module("mimickit.tools.latent_spread", f"model_file={tiny_ase}", "num_latents=3", "envs_per_latent=2",
                     "steps=20", "settle=5", f"output={output}", "sim.nthread=1")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "eta2" in out.stdout and f"wrote {output}" in out.stdout
    summary = json.loads(output.read_text())
    assert {"groups", "survival", "per_latent", "latents", "engine", "start"} <= summary.keys()
    assert set(summary["groups"]) == {g + s for g in latent_spread.STEP_GROUPS for s in ("", "_std")}
    assert summary["groups"]["dof_pos"]["size"] == 28
    assert {"F", "eta2", "between_std", "within_std"} <= summary["groups"]["speed"].keys()
    assert 0.0 <= summary["survival"]["fraction"] <= 1.0 and len(summary["per_latent"]["speed"]) == 3
    latents = np.array(summary["latents"])
    assert latents.shape == (3, 8) and np.allclose(np.linalg.norm(latents, axis=1), 1.0, atol=1e-6)


def test_each_env_holds_its_latent_for_the_whole_rollout(tiny_ase):
    env = latent_spread.build_env(str(tiny_ase), num_envs=6, steps=12, start="default", overrides=["sim.nthread=1"])
    policy = load_low_level_policy(str(tiny_ase), env.device)
    seen = []

    class Spy:
        def __call__(self, obs, latents):
            seen.append(latents.clone())
            return policy(obs, latents)

    latents = torch.nn.functional.normalize(torch.randn(3, policy.latent_dim), dim=-1)
    result = latent_spread.rollout(env, Spy(), latents, envs_per_latent=2, steps=12, settle=2)
    assert len(seen) == 12
    expected = latents.repeat_interleave(2, dim=0)
    assert all(torch.equal(s, expected) for s in seen) and torch.equal(result.latents, expected)
    assert torch.equal(result.latent_ids, torch.tensor([0, 0, 1, 1, 2, 2]))
    # one start for all (the default pose): the two envs of a latent move identically
    speed = result.means["speed"][:, 0]
    assert torch.allclose(speed[0::2], speed[1::2]) and result.recorded.max() <= 10
