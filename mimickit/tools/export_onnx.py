"""Export a trained tracking policy to ONNX, with the metadata that playing it outside training needs.

    python -m mimickit.tools.export_onnx model_file=outputs/walk/model.pt [output=policy.onnx] [opset=17] [KEY=VALUE ...]

The checkpoint is rebuilt as `mode=test` rebuilds it (its run's saved config.yaml, command-line keys on top; see
`mimickit.resume.checkpoint_config`), with one env on the CPU engine: a checkpoint trained with `sim=mjwarp` is
exported from the same model on `mujoco` (the physics keys both engines share are kept). Other KEY=VALUE arguments
are config overrides, as for `mimickit.run`.

Writes `output` (default: beside the checkpoint, `<checkpoint name>.onnx`) and `<output>.json` beside it:
- the ONNX graph maps `obs` (batch, obs_dim) float32 to `action` (batch, num_dofs), the deterministic (mean)
  action in the env's units (what `env.step` takes: 0 is the rest pose, +-1 the farther joint limit times the env's
  action_scale), and `pd_target` (batch, num_dofs), the PD targets in radians the engine is given (the action mapped
  and clamped to the joint ranges). The observation normaliser (mean, std, clip) is inside the graph: feed raw
  observations.
- the JSON holds the observation layout, the joint and body order, the PD servos, the control and physics rates,
  the default pose, the action mapping, the MJCF and the clip (schema: docs/deployment.md).

Before writing, the export plays a short episode in the env and checks the ONNX outputs (onnxruntime) against the
torch policy on its observations; it prints the largest difference.
"""
from __future__ import annotations

import copy
import logging
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mujoco
import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from torch import nn

from mimickit import run as run_module
from mimickit.agents.agent import Agent
from mimickit.anim.motion_lib import load_motion_entries
from mimickit.config import validate_run, validate_target
from mimickit.deploy import metadata as md
from mimickit.deploy.observations import deepmimic_layout
from mimickit.envs.deepmimic_env import DeepMimicEnv
from mimickit.resume import keep_engine_physics, saved_config_path
from mimickit.sim.mujoco_engine import MujocoEngine
from mimickit.tools.cli import compose_checkpoint_config, split_tool_args
from mimickit.utils.paths import PACKAGE_SCHEME

log = logging.getLogger(__name__)

DEFAULT_OPSET = 17
DEFAULT_VERIFY_STEPS = 64
# the tool's keys and their defaults (None: required, or derived from the others)
ARGS = {"model_file": None, "output": None, "opset": str(DEFAULT_OPSET), "verify_steps": str(DEFAULT_VERIFY_STEPS)}
PARITY_TOL = 1e-5  # the export refuses to write a graph whose outputs differ from torch's by more
# keys the export sets itself: one env on the CPU, as mode=test builds a checkpoint, with the nominal physics (the
# training run's domain randomisation is recorded in the metadata, not applied)
FORCED = {"mode": "test", "num_envs": "1", "device": "cpu", "devices": "null", "randomization": "none"}
INPUT_NAME, OUTPUT_NAMES = "obs", ("action", "pd_target")
BUILT_GROUPS = ("sim", "motion", "env", "algo", "randomization")  # the config groups the export builds (and validates)
CPU_ENGINE = f"{MujocoEngine.__module__}.{MujocoEngine.__name__}"


@dataclass
class LoadedPolicy:
    """A checkpoint rebuilt in one CPU env: its config, env and agent (weights loaded)."""

    cfg: DictConfig
    env: DeepMimicEnv
    agent: Agent
    model_file: Path


class ExportedPolicy(nn.Module):
    """obs -> (action, pd_target): the agent's deterministic action (`Agent.policy_action`) and the env's PD
    targets for it (`CharEnv.actions_to_targets`), with the observation normaliser inside."""

    def __init__(self, agent: Agent, env: DeepMimicEnv):
        super().__init__()
        self.obs_normalizer = copy.deepcopy(agent.obs_normalizer).cpu()
        self.actor = copy.deepcopy(agent.model.actor).cpu()
        low, high = env.engine.dof_limits
        for name, value in {"action_offset": agent._action_offset, "action_scale": agent._action_scale,
                            "target_offset": env._action_offset, "target_scale": env._action_scale,
                            "target_low": low, "target_high": high}.items():
            self.register_buffer(name, value.detach().to("cpu", torch.float32).clone())

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.actor(self.obs_normalizer.normalize(obs)).mean
        action = self.action_offset + self.action_scale * mean
        target = torch.clamp(self.target_offset + self.target_scale * action, self.target_low, self.target_high)
        return action, target


# ---- loading ----
def load_policy(model_file: str | Path, overrides: Sequence[str] = ()) -> LoadedPolicy:
    """Rebuild the checkpoint's run (as mode=test does) with one env on the CPU engine and load its weights."""
    cfg, defaults = compose_checkpoint_config(str(model_file), overrides, FORCED, "export_onnx")
    _use_cpu_engine(cfg, defaults)
    validate_run(cfg)
    for group in BUILT_GROUPS:
        validate_target(cfg[group], group)
    env = run_module.build_env(cfg)
    if not isinstance(env, DeepMimicEnv):
        raise ValueError(f"export_onnx exports motion-tracking policies (env=deepmimic, env=add); this checkpoint's "
                         f"env is {cfg.env._target_}, whose observation layout the deployment runtime does not know")
    agent = instantiate(cfg.algo, env=env, out_dir=str(Path(model_file).resolve().parent), device="cpu")
    if type(agent).model_input is not Agent.model_input:
        raise ValueError(f"{type(agent).__name__}'s policy sees more than the observation; export_onnx exports "
                         "policies of the observation alone")
    agent.load(str(model_file))
    agent.set_training(False)
    return LoadedPolicy(cfg, env, agent, Path(model_file))


def _use_cpu_engine(cfg: DictConfig, defaults: DictConfig) -> None:
    """A GPU engine node (sim=mjwarp) becomes the CPU engine's, keeping the physics keys both share."""
    with open_dict(cfg):
        if cfg.sim._target_ != CPU_ENGINE:
            saved = cfg.sim
            cpu = copy.deepcopy(defaults.sim)
            shared = keep_engine_physics(saved, cpu)
            log.info("exporting a %s checkpoint on %s (kept %s)", saved._target_, CPU_ENGINE, ", ".join(shared))
            cfg.sim = cpu
        cfg.sim.num_envs, cfg.sim.device, cfg.sim.nthread = 1, "cpu", 1


# ---- export ----
def export_policy(policy: LoadedPolicy, output: str | Path, opset: int = DEFAULT_OPSET,
                  verify_steps: int = DEFAULT_VERIFY_STEPS) -> tuple[Path, Path, float]:
    """Write the ONNX file and its metadata JSON; returns their paths and the largest ONNX-torch difference on
    `verify_steps` observations of a test episode (the export refuses above PARITY_TOL)."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    module = ExportedPolicy(policy.agent, policy.env).eval()
    example = policy.env.reset().detach().cpu()
    with warnings.catch_warnings():  # the TorchScript exporter (no onnxscript needed) warns that it is legacy
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, (example,), str(output), input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
            dynamic_axes={name: {0: "batch"} for name in (INPUT_NAME, *OUTPUT_NAMES)}, opset_version=opset,
            dynamo=False,
        )
    max_diff = compute_onnx_parity(output, policy, record_observations(policy, verify_steps)) if verify_steps else 0.0
    if max_diff > PARITY_TOL:
        output.unlink()
        raise RuntimeError(f"the exported graph differs from the torch policy by {max_diff:.3g} (> {PARITY_TOL})")
    meta_path = md.metadata_path(output)
    md.save_metadata(meta_path, build_metadata(policy, output, opset))
    return output, meta_path, max_diff


@torch.no_grad()
def record_observations(policy: LoadedPolicy, steps: int) -> torch.Tensor:
    """(steps, obs_dim) observations of deterministic episodes in the env (reset when one ends)."""
    env, agent = policy.env, policy.agent
    obs, recorded = env.reset(), []
    for _ in range(steps):
        recorded.append(obs.clone())
        _, _, done, _ = env.step(agent.policy_action(obs))
        obs = env.reset_done(done)
    return torch.cat(recorded).cpu()


@torch.no_grad()
def compute_onnx_parity(onnx_path: str | Path, policy: LoadedPolicy, obs: torch.Tensor) -> float:
    """Largest |ONNX - torch| over `obs` of the action (`Agent.policy_action`) and the PD targets
    (`CharEnv.actions_to_targets`)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    action, target = session.run(list(OUTPUT_NAMES), {INPUT_NAME: obs.numpy().astype(np.float32)})
    torch_action = policy.agent.policy_action(obs)
    torch_target = policy.env.actions_to_targets(torch_action)
    return max(float(np.abs(action - torch_action.numpy()).max()), float(np.abs(target - torch_target.numpy()).max()))


# ---- metadata ----
def build_metadata(policy: LoadedPolicy, onnx_path: Path, opset: int) -> dict[str, Any]:
    """The sections of the metadata JSON (docs/deployment.md), read off the live env, engine and agent."""
    cfg, env, agent = policy.cfg, policy.env, policy.agent
    engine, character = env.engine, env.engine.character
    model, lib = engine.mj_model, env.motion_lib
    dof_joints = [model.joint(name).id for name in engine.dof_names]
    dof_adr = model.jnt_dofadr[dof_joints]
    servo_kp, servo_kv = np.zeros(engine.num_dofs), np.zeros(engine.num_dofs)
    for a, dof in enumerate(character.actuator_dof_ids):
        servo_kp[dof], servo_kv[dof] = model.actuator_gainprm[a, 0], -model.actuator_biasprm[a, 2]
    torque_limit = np.where(model.jnt_actfrclimited[dof_joints].astype(bool),
                            np.abs(model.jnt_actfrcrange[dof_joints]).max(axis=1), np.inf)
    low, high = character.dof_low, character.dof_high  # float64: the servos' ctrlrange (the env clamps in float32)
    mjcf = str(cfg.sim.mjcf)
    motion_file = str(cfg.motion.motion_file)
    norm = agent.obs_normalizer
    floats = md.to_json_floats
    return {
        "onnx": {"file": onnx_path.name, "opset": opset, "input": INPUT_NAME, "outputs": list(OUTPUT_NAMES)},
        "source": {
            "model_file": str(policy.model_file.resolve()),
            "iteration": agent.iteration,
            "algorithm": type(agent).__name__,
            "env": f"{type(env).__module__}.{type(env).__name__}",
            "randomization": _trained_randomization(policy.model_file),
        },
        "character": {
            "mjcf": mjcf if mjcf.startswith(PACKAGE_SCHEME) else md.portable_path(engine.mjcf),
            "body_names": list(engine.body_names),
            "body_parents": lib.body_parents.tolist(),
            "joints": [{"body": j.body, "type": j.joint_type.name.lower(), "dofs": list(j.hinge_names)}
                       for j in lib.character.joints],
            "dof_names": list(engine.dof_names),
            "default_qpos": character.default_qpos.tolist(),
            "default_dof_pos": [0.0] * engine.num_dofs,
            "key_bodies": [engine.body_names[i] for i in env.key_body_ids.tolist()],
            "contact_bodies": [n for n, fall in zip(engine.body_names, env.fall_body_mask.tolist()) if not fall],
        },
        "physics": {
            "sim_freq": int(round(1.0 / engine.sim_dt)),
            "control_freq": int(round(1.0 / engine.control_dt)),
            "substeps": engine.substeps,
            "timestep": float(model.opt.timestep),
            "integrator": mujoco.mjtIntegrator(model.opt.integrator).name.removeprefix("mjINT_").lower(),
            "control_mode": engine.control_mode.value,
            "self_collision": bool(cfg.sim.self_collision),
            "passive_damping_frac": float(cfg.sim.passive_damping_frac),
            "kp": character.kp.tolist(),
            "kd": character.kd.tolist(),
            "servo_kp": servo_kp.tolist(),
            "servo_kv": servo_kv.tolist(),
            "passive_damping": model.dof_damping[dof_adr].tolist(),
            "armature": model.dof_armature[dof_adr].tolist(),
            "torque_limit": floats(torque_limit),
            "target_low": floats(low),
            "target_high": floats(high),
        },
        "action": {
            "dim": env.action_dim,
            "policy_offset": agent._action_offset.tolist(),
            "policy_scale": agent._action_scale.tolist(),
            "target_offset": env._action_offset.tolist(),
            "target_scale": env._action_scale.tolist(),
            "action_scale": float(cfg.env.action_scale),
        },
        "observation": {
            "dim": env.obs_dim,
            "parts": observation_layout(env),
            "normalizer": {"mean": norm.mean.float().tolist(), "std": norm.std.tolist(), "clip": norm.clip},
        },
        "task": {
            "type": md.DEEPMIMIC_TASK,
            "motion_file": motion_file,
            "clips": [{"file": md.portable_path(e.file), "weight": e.weight} for e in load_motion_entries(motion_file)],
            "min_fps": float(cfg.motion.min_fps),
            "tar_obs_steps": [int(s) for s in env.tar_obs_steps.tolist()],
            "enable_phase_obs": bool(env.enable_phase_obs),
            "episode_length": float(cfg.env.episode_length),
            "max_episode_steps": env.max_episode_steps,
            "enable_early_termination": bool(env.enable_early_termination),
            "pose_termination": bool(env.pose_termination),
            "pose_termination_dist": float(env.pose_termination_dist),
            "pose_termination_metric": env.pose_termination_metric,
            "contact_height": None if env.contact_height is None else float(env.contact_height),
            "contact_force_source": env.contact_force_source.value,
            "contact_force_threshold": float(env.contact_force_threshold),
            "ref_contact_height": None if env.ref_contact_height is None else float(env.ref_contact_height),
            "rand_reset": bool(env.rand_reset),
        },
    }


def _trained_randomization(model_file: Path) -> dict[str, Any] | None:
    """The domain randomisation the checkpoint was trained with (its saved config's), for the record."""
    saved = saved_config_path(str(model_file))
    node = OmegaConf.select(OmegaConf.load(saved), "randomization") if saved else None
    return OmegaConf.to_container(node, resolve=True) if node is not None else None


def observation_layout(env: DeepMimicEnv) -> list[dict[str, Any]]:
    """DeepMimic's observation, part by part (`DeepMimicEnv._compute_obs`), checked against the env's size."""
    parts = deepmimic_layout(env.engine.num_bodies, len(env.tar_obs_steps), bool(env.enable_phase_obs))
    layout, start = [], 0
    for name, shape in parts:
        size = int(np.prod(shape))
        layout.append({"name": name, "start": start, "size": size, "shape": shape})
        start += size
    if start != env.obs_dim:
        raise ValueError(f"{type(env).__name__}'s observation has {env.obs_dim} values, DeepMimic's layout {start}: "
                         "the env adds parts export_onnx does not know")
    return layout


# ---- CLI ----
def parse_args(argv: Sequence[str]) -> tuple[dict[str, str | None], list[str]]:
    """(the tool's keys, model_file among them; config overrides) of `KEY=VALUE` arguments."""
    return split_tool_args(argv, ARGS, __doc__)


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(message)s")
    tool, overrides = parse_args(sys.argv[1:] if argv is None else argv)
    model_file = tool["model_file"]
    opset, verify_steps = int(tool["opset"]), int(tool["verify_steps"])
    policy = load_policy(model_file, overrides)
    output = tool["output"] or str(Path(model_file).with_suffix(".onnx"))
    onnx_path, meta_path, max_diff = export_policy(policy, output, opset, verify_steps)
    env = policy.env
    print(f"wrote {onnx_path} (obs {env.obs_dim} -> action {env.action_dim}, pd_target {env.action_dim}; opset {opset})")
    print(f"wrote {meta_path} (clip {policy.cfg.motion.motion_file}, {env.engine.num_bodies} bodies, "
          f"{env.action_dim} DoFs, control {1 / env.dt:.0f} Hz)")
    print(f"ONNX vs torch on {verify_steps} observations: max |diff| = {max_diff:.2e}")


if __name__ == "__main__":
    main()
