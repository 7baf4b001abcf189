"""The Hydra config tree composes, and bad overrides fail clearly before anything is simulated."""
import ast
import collections.abc
import importlib
import importlib.util
import json
import os
import subprocess
import sys
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

from mimickit.config import RUNTIME_ARGS, KwargsOf, _constructor_params, register_configs, validate_target
from mimickit.run import validate

ROOT = Path(__file__).resolve().parents[1]
CONF = str(ROOT / "conf")
EXPERIMENTS = sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml"))


def compose_cfg(overrides):
    register_configs()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_and_validates(experiment):
    cfg = compose_cfg([f"experiment={experiment}"])
    missing = sorted(OmegaConf.missing_keys(cfg))  # what a preset leaves to the command line (`???`): a file
    if missing:
        with pytest.raises(ValueError, match="lacks required keys"):
            validate(cfg)
        cfg = compose_cfg([f"experiment={experiment}", *(f"{key}=given.pt" for key in missing)])
    validate(cfg)
    assert cfg.sim.num_envs == cfg.num_envs


def test_overrides_reach_the_objects():
    cfg = compose_cfg(["experiment=deepmimic_humanoid_ppo", "num_envs=7", "env.pose_termination_dist=0.5"])
    assert cfg.sim.num_envs == 7 and cfg.env.pose_termination_dist == 0.5


def test_unknown_key_is_rejected():
    with pytest.raises(ConfigCompositionException, match="episode_lenght"):
        compose_cfg(["env.episode_lenght=3"])
    with pytest.raises(ConfigCompositionException, match="num_env"):
        compose_cfg(["num_env=3"])


def test_wrong_run_level_type_is_rejected():
    with pytest.raises((ConfigCompositionException, ValidationError)):
        compose_cfg(["num_envs=many"])
    with pytest.raises((ConfigCompositionException, ValidationError)):
        compose_cfg(["mode=fly"])


def test_wrong_object_type_is_rejected_before_building():
    cfg = compose_cfg(["env.episode_length=long"])
    with pytest.raises(ValueError, match="episode_length"):
        validate_target(cfg.env, "env")


def run_cli(*args, cwd=ROOT):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-m", "mimickit.run", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_cli_help_and_cfg_job():
    out = run_cli("--help")
    assert out.returncode == 0 and "Configuration groups" in out.stdout and "experiment" in out.stdout
    assert out.stdout.startswith("mimickit: ") and "Examples:" in out.stdout and "_library" not in out.stdout
    out = run_cli("experiment=deepmimic_humanoid_awr", "num_envs=3", "--cfg", "job")
    assert out.returncode == 0, out.stderr
    assert "num_envs: 3" in out.stdout and "mimickit.agents.awr" in out.stdout
    bad = run_cli("env.episode_lenght=3", "--cfg", "job")
    assert bad.returncode != 0 and "episode_lenght" in bad.stderr


def test_multirun_with_the_basic_launcher(tmp_path):
    out = run_cli(
        "-m", "motion=procedural_walk", "seed=0,1", "num_envs=2", "max_iters=1", "test_episodes=0",
        "algo.steps_per_iter=4", "sim.nthread=1", f"hydra.sweep.dir={tmp_path}",
    )
    assert out.returncode == 0, out.stderr
    for job in ("0", "1"):
        metrics = json.loads((tmp_path / job / "metrics.json").read_text())
        assert metrics["iteration"] == 1 and metrics["samples"] == 8
    assert "seed=1" in (tmp_path / "1" / ".hydra" / "overrides.yaml").read_text()


def test_console_script_works_from_any_directory(tmp_path):
    script = Path(sys.executable).with_name("mimickit")
    if not script.exists():
        pytest.skip("the package is not installed with its console script")
    out = subprocess.run([str(script), "num_envs=5", "--cfg", "job"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "num_envs: 5" in out.stdout


@pytest.mark.parametrize("override, message", [
    ("+max_iter=5", r"unknown run-level keys \['max_iter'\]"),
    ("max_iters=-5", "max_iters must be >= 1"),
    ("num_envs=0", "num_envs must be >= 1"),
    ("algo.update.actor.optimizer.lr=abc", r"'algo.update.actor.optimizer.lr' for torch.optim.Adam"),
    ("+algo.update.actor.optimizer.lrr=1", r"'algo.update.actor.optimizer.lrr'"),
    ("algo.model.actor_hidden_dims=512", r"'algo.model.actor_hidden_dims'"),
    ("+algo.model.width=3", r"'algo.model.width'"),
    ("env.reward.pose.weight=heavy", r"'env.reward.pose.weight'"),
    ("+env.reward.pose.wieght=1", r"'env.reward.pose.wieght'"),
    ("+env.reward.pos={weight:1,scale:1}",
     r"'env.reward' for mimickit.envs.deepmimic_env.DeepMimicEnv: unknown reward terms \['pos'\]; "
     r"known: \['pose', 'vel', 'root_pose', 'root_vel', 'key_pos'\]"),
    ("~env.reward.pose.scale", r"lacks required keys \['reward.pose.scale'\]"),
    ("+robot.gains=1", r"'robot.gains' for the robot"),
])
def test_bad_nested_and_added_keys_fail_validation(override, message):
    cfg = compose_cfg(["experiment=deepmimic_humanoid_ppo", override])
    with pytest.raises(ValueError, match=message):
        validate(cfg)


def test_recorder_settings_are_typed():
    cfg = compose_cfg(["env=view_motion", "recorder.width=wide"])
    with pytest.raises(ValueError, match="'recorder.width'"):
        validate(cfg)


def test_bad_nested_value_fails_before_the_engine_is_built(tmp_path):
    out = run_cli("algo.update.actor.optimizer.lr=abc", f"hydra.run.dir={tmp_path}")
    assert out.returncode != 0 and "'algo.update.actor.optimizer.lr'" in out.stderr
    assert "engine" not in out.stderr.lower() and "torch/optim" not in out.stderr


# ---- each default is written once: in the YAML, never also in the constructor ----
def _group_options(group):
    return [path.stem for path in sorted((ROOT / "conf" / group).glob("*.yaml")) if not path.stem.startswith("_")]


TARGET_OPTIONS = [
    pytest.param(group, option, id=f"{group}={option}")
    for group in ("sim", "motion", "logger", "env", "algo", "randomization") for option in _group_options(group)
]
NOT_SETTINGS = RUNTIME_ARGS | {"device"}  # given by the composition root, not by the YAML


def _constructor_keywords(cls_or_target):
    """{keyword: (has a code default, type hint)} of a constructor, following **kwargs into the base classes."""
    if not isinstance(cls_or_target, str):
        return {p.name: (p.default is not p.empty, hint) for p, hint in _constructor_params(cls_or_target)}
    module_name, _, class_name = cls_or_target.rpartition(".")
    try:
        return _constructor_keywords(getattr(importlib.import_module(module_name), class_name))
    except ModuleNotFoundError as err:
        if err.name == module_name:
            raise
    # a GPU backend without its packages (mujoco_warp): read the signature from the source
    tree = ast.parse(Path(importlib.util.find_spec(module_name).origin).read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
    args = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__").args
    positional = args.posonlyargs + args.args
    defaulted = {a.arg for a in positional[len(positional) - len(args.defaults):]}
    defaulted |= {a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None}
    return {a.arg: (a.arg in defaulted, Any) for a in positional[1:] + args.kwonlyargs}


def _unwritten_or_defaulted(values, cls_or_target, where, partial=False, filled_in=()):
    """Keywords of the constructor that have a code default, or (unless `partial`) that `values` does not set,
    down through nested `_target_` nodes of this package and `KwargsOf` mappings."""
    problems = []
    for name, (has_default, hint) in _constructor_keywords(cls_or_target).items():
        if name in NOT_SETTINGS or name in filled_in:
            continue
        if has_default:
            problems.append(f"{where}.{name} has a default in code")
        if name in values:
            problems += _nested_problems(values[name], hint, f"{where}.{name}")
        elif not partial:
            problems.append(f"{where}.{name} is not in the YAML")
    return problems


def _nested_problems(value, hint, where):
    if isinstance(value, dict) and str(value.get("_target_", "")).startswith("mimickit."):
        return _unwritten_or_defaulted(value, value["_target_"], where, partial=value.get("_partial_", False))
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        marker = next((m for m in hint.__metadata__ if isinstance(m, KwargsOf)), None)
        if marker is not None and isinstance(value, dict):
            return _unwritten_or_defaulted(value, marker.cls, where, filled_in=marker.filled_in)
        return _nested_problems(value, args[0], where)
    if origin in (typing.Union, types.UnionType):
        return [p for arg in args if arg is not type(None) for p in _nested_problems(value, arg, where)]
    if origin in (dict, collections.abc.Mapping) and isinstance(value, dict):
        return [p for key, item in value.items() for p in _nested_problems(item, args[1], f"{where}.{key}")]
    return []


@pytest.mark.parametrize("group, option", TARGET_OPTIONS)
def test_every_setting_is_written_in_its_yaml_and_not_in_code(group, option):
    """A constructor keyword that a conf group sets has no default in code, and the YAML sets every keyword but
    the runtime ones (config.RUNTIME_ARGS, device): conf/ is the one place each default is written. Nested
    objects of this package (`_target_` nodes; `_partial_` ones may leave keywords to the receiver) and
    `KwargsOf` sections (the loggers' txt/tb/wandb) are held to the same rule."""
    values = OmegaConf.to_container(compose_cfg([f"{group}={option}"])[group], resolve=True)
    assert _unwritten_or_defaulted(values, values["_target_"], group) == []


def test_recorder_settings_are_written_in_the_run_config_and_not_in_code():
    from mimickit.render.video import RUNTIME_ARGS as RECORDER_RUNTIME_ARGS, VideoRecorder

    values = OmegaConf.to_container(compose_cfg([]).recorder, resolve=True)
    assert _unwritten_or_defaulted(values, VideoRecorder, "recorder", filled_in=RECORDER_RUNTIME_ARGS) == []


def test_training_runs_do_not_load_the_renderer():
    """Importing the renderer sets up OpenGL; a spawned training worker that loaded it aborted at exit."""
    script = ("import sys\nfrom mimickit.run import run_job, validate\n"
              "sys.path.insert(0, 'tests')\nfrom test_config import compose_cfg\n"
              "validate(compose_cfg(['experiment=deepmimic_humanoid_ppo']))\n"
              "print('mimickit.render.video' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
