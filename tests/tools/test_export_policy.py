"""Policy files (mimickit.tools.export_policy): the actor in float16 and the normaliser, loaded by `Agent.load` for
test/eval/play and export_onnx as the full checkpoint is, and refused for training resume."""
import json

import pytest
import torch
import yaml

from deploy_helpers import ROOT, run_module
from mimickit.tools import export_onnx, export_policy
from mimickit.tools.export_onnx import load_policy, record_observations
from mimickit.utils.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

ACTION_TOL = 2e-2  # float16 weights: about 1e-3 relative error per layer


@pytest.fixture(scope="module")
def policy_file(tiny_checkpoint, tmp_path_factory):
    """The tiny checkpoint exported through the CLI: (policy model.pt, the tool's stdout)."""
    out_dir = tmp_path_factory.mktemp("zoo") / "walk"
    out = run_module("mimickit.tools.export_policy", f"model_file={tiny_checkpoint}", f"output={out_dir}")
    assert out.returncode == 0, out.stderr[-3000:]
    return out_dir / "model.pt", out.stdout


@pytest.fixture(scope="module")
def loaded(tiny_checkpoint, policy_file):
    """(the full checkpoint's policy, the policy file's), each rebuilt in one CPU env as mode=test does."""
    return load_policy(tiny_checkpoint), load_policy(policy_file[0])


def test_cli_writes_a_small_float16_actor_and_the_run_config(tiny_checkpoint, policy_file):
    path, stdout = policy_file
    assert f"wrote {path} (" in stdout and "parameters in float16" in stdout
    saved = yaml.safe_load((tiny_checkpoint.parent / "config.yaml").read_text())
    written = yaml.safe_load((path.parent / "config.yaml").read_text())
    assert written["num_envs"] == written["sim"]["num_envs"] == 64 and saved["num_envs"] == 4  # conf/config.yaml's
    for cfg in (saved, written):
        del cfg["num_envs"], cfg["sim"]["num_envs"]
    assert written == saved  # a CPU run already: nothing else changes
    full, policy = load_checkpoint(tiny_checkpoint), load_checkpoint(path)
    assert policy["format"] == "mimickit-policy" and policy["dtype"] == "float16"
    assert sorted(policy["model"]) == sorted(k for k in full["model"] if k.startswith("actor."))
    assert all(v.dtype == torch.float16 for v in policy["model"].values())
    assert not any(k.startswith("optimizer/") or k == "rng" for k in policy)
    for key in ("iteration", "sample_count", "wall_time", "algorithm"):
        assert policy[key] == full[key]
    assert path.stat().st_size < tiny_checkpoint.stat().st_size / 4


def test_a_gpu_run_is_exported_for_the_cpu_engine_with_its_physics(tiny_checkpoint, tmp_path):
    """The zoo's policies are trained on MuJoCo Warp at 240 Hz without passive damping: their config must run on
    the CPU engine anywhere, on that physics; cpu=false keeps the run's config byte for byte."""
    run = tmp_path / "gpu_run"
    run.mkdir()
    cfg = yaml.safe_load((tiny_checkpoint.parent / "config.yaml").read_text())
    cfg["sim"] = {**yaml.safe_load((ROOT / "conf/sim/mjwarp.yaml").read_text()), "mjcf": cfg["sim"]["mjcf"],
                  "num_envs": 4096, "device": "cuda", "sim_freq": 240, "passive_damping_frac": 0.0, "pd_gains": None}
    cfg["device"], cfg["num_envs"] = "cuda", 4096
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    (run / "model.pt").write_bytes(tiny_checkpoint.read_bytes())
    export_policy.export_policy(str(run / "model.pt"), str(tmp_path / "cpu"))
    written = yaml.safe_load((tmp_path / "cpu" / "config.yaml").read_text())
    assert written["sim"]["_target_"].endswith("MujocoEngine") and "nconmax" not in written["sim"]
    assert written["sim"]["sim_freq"] == 240 and written["sim"]["passive_damping_frac"] == 0.0
    assert written["device"] == written["sim"]["device"] == "cpu" and written["sim"]["num_envs"] == 64
    export_policy.export_policy(str(run / "model.pt"), str(tmp_path / "as_run"), cpu=False)
    assert (tmp_path / "as_run" / "config.yaml").read_bytes() == (run / "config.yaml").read_bytes()


def test_policy_file_acts_as_the_full_checkpoint(loaded):
    full, policy = loaded
    assert policy.agent.iteration == full.agent.iteration and policy.agent.sample_count == full.agent.sample_count
    assert next(policy.agent.model.actor.parameters()).dtype == torch.float32  # cast back on loading
    obs = record_observations(full, 64)
    expected, actual = full.agent.policy_action(obs), policy.agent.policy_action(obs)
    torch.testing.assert_close(actual, expected, atol=ACTION_TOL, rtol=0)
    assert (actual - expected).norm() <= 1e-2 * expected.norm()


def test_test_mode_plays_the_same_episode(tiny_checkpoint, policy_file, tmp_path):
    lengths = []
    for name, model_file in (("full", tiny_checkpoint), ("policy", policy_file[0])):
        out = run_module("mimickit.run", "mode=test", f"model_file={model_file}", "num_envs=1", "test_episodes=1",
                         "env.rand_reset=false", "sim.nthread=1", f"hydra.run.dir={tmp_path / name}")
        assert out.returncode == 0, out.stderr[-3000:]
        lengths.append(json.loads((tmp_path / name / "metrics.json").read_text())["episode_length"])
    assert lengths[0] == lengths[1]


def test_export_onnx_takes_a_policy_file(loaded, tmp_path):
    _, policy = loaded
    _, _, max_diff = export_onnx.export_policy(policy, tmp_path / "policy.onnx", verify_steps=8)
    assert max_diff <= export_onnx.PARITY_TOL


def test_training_cannot_resume_from_a_policy_file(loaded, policy_file):
    agent, path = loaded[1].agent, str(policy_file[0])
    agent.out_dir = str(policy_file[0].parent)  # resume=true in the policy file's directory
    with pytest.raises(CheckpointError, match="policy file.*no critic, optimiser"):
        agent._resume()
    agent.resume_from = path
    with pytest.raises(CheckpointError, match="training cannot resume"):
        agent.train(max_iters=agent.iteration + 1)


def test_a_policy_file_must_hold_every_actor_entry_and_nothing_else(loaded, policy_file, tmp_path):
    agent, state = loaded[1].agent, load_checkpoint(policy_file[0])
    state["model"].pop("actor.log_std")
    save_checkpoint(tmp_path / "missing.pt", state)
    with pytest.raises(CheckpointError, match="does not fit"):
        agent.load(str(tmp_path / "missing.pt"))
    state = load_checkpoint(policy_file[0])
    state["model"]["critic.out.weight"] = torch.zeros(1)
    save_checkpoint(tmp_path / "extra.pt", state)
    with pytest.raises(CheckpointError, match="other than the actor"):
        agent.load(str(tmp_path / "extra.pt"))


def test_a_checkpoint_without_its_config_or_actor_is_refused(tiny_checkpoint, tmp_path):
    lone = tmp_path / "lone" / "model.pt"
    lone.parent.mkdir()
    lone.write_bytes(tiny_checkpoint.read_bytes())
    with pytest.raises(SystemExit, match="no config.yaml"):
        export_policy.main([f"model_file={lone}", f"output={tmp_path / 'out'}"])
    critic_only = tmp_path / "critic" / "model.pt"
    state = load_checkpoint(tiny_checkpoint)
    state["model"] = {k: v for k, v in state["model"].items() if not k.startswith("actor.")}
    save_checkpoint(critic_only, state)
    (critic_only.parent / "config.yaml").write_bytes((tiny_checkpoint.parent / "config.yaml").read_bytes())
    with pytest.raises(SystemExit, match="no actor weights"):
        export_policy.main([f"model_file={critic_only}", f"output={tmp_path / 'out'}"])
    with pytest.raises(SystemExit, match="overwrite the checkpoint"):
        export_policy.main([f"model_file={tiny_checkpoint}", f"output={tiny_checkpoint.parent}"])
    assert not (tmp_path / "out").exists()
