"""Export a training checkpoint as a policy file for the model zoo: the actor in float16 and the observation
normaliser, without the critic, the optimisers, the discriminators and the RNG states.

    python -m mimickit.tools.export_policy model_file=outputs/walk/model.pt [output=<checkpoint dir>/policy] [cpu=true]

Writes `output`/model.pt and the run's config.yaml beside it (`output`/config.yaml), so that
`mimickit.run mode=test|eval|play model_file=<output>/model.pt` and `mimickit.tools.export_onnx` rebuild the run as
they do from the full checkpoint (`Agent.load` knows the file by its "format" entry). With `cpu=true` (the default)
the config runs where any user can: on the CPU engine with `conf/config.yaml`'s number of envs and `device: cpu`,
the run's physics kept (`mimickit.resume.keep_engine_physics`); `sim=mjwarp device=cuda` on the command line puts
it back on the GPU, physics kept too. `cpu=false` copies the config unchanged. The file holds:
- `model`: the ActorCritic entries under `actor.`, floating tensors in float16 (cast back on loading);
- `obs_normalizer`: unchanged (float64 statistics; small);
- algorithm, iteration, sample_count, wall_time, and `format` = "mimickit-policy", `dtype` = "float16".
Training cannot resume from it. Nothing is rebuilt: the export reads and writes files only.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import torch
from omegaconf import OmegaConf

from mimickit.resume import CONFIG_NAME, keep_engine_physics, saved_config_path
from mimickit.tools.cli import split_tool_args
from mimickit.utils.checkpoint import (
    CHECKPOINT_NAME,
    POLICY_FORMAT,
    atomic_write,
    load_checkpoint,
    save_checkpoint,
)
from mimickit.utils.paths import CONF_DIR

ARGS = {"model_file": None, "output": None, "cpu": "true"}
DTYPE = torch.float16
COUNTERS = ("algorithm", "iteration", "sample_count", "wall_time")


def policy_state(state: dict[str, Any], model_file: str) -> dict[str, Any]:
    """The policy file's contents from a full checkpoint's `state`."""
    actor = {k: v.to(DTYPE) if v.is_floating_point() else v
             for k, v in state.get("model", {}).items() if k.startswith("actor.")}
    if not actor:
        raise ValueError(f"{model_file!r} holds no actor weights (no `model` entries under 'actor.'); "
                         f"it holds {sorted(state)}")
    missing = [k for k in ("obs_normalizer", *COUNTERS) if k not in state]
    if missing:
        raise ValueError(f"{model_file!r} lacks {missing}: not a MimicKit checkpoint")
    return {"format": POLICY_FORMAT, "dtype": str(DTYPE).removeprefix("torch."), "model": actor,
            "obs_normalizer": state["obs_normalizer"], **{k: state[k] for k in COUNTERS}}


def cpu_config_text(config_path: str) -> bytes:
    """The saved run config at `config_path`, run on the CPU engine with the run's physics (see the module doc)."""
    cfg = OmegaConf.load(config_path)
    defaults = OmegaConf.load(os.path.join(CONF_DIR, "config.yaml"))
    cpu_sim = OmegaConf.load(os.path.join(CONF_DIR, "sim", "mujoco.yaml"))
    keep_engine_physics(cfg.sim, cpu_sim)
    cfg.sim = cpu_sim
    cfg.device, cfg.num_envs = "cpu", defaults.num_envs
    return OmegaConf.to_yaml(cfg, resolve=True).encode()


def export_policy(model_file: str, output: str, cpu: bool = True) -> tuple[str, dict[str, Any]]:
    """Write `output`/model.pt and `output`/config.yaml; returns the policy file's path and contents."""
    config = saved_config_path(model_file)
    if config is None:
        raise FileNotFoundError(f"no {CONFIG_NAME} beside {model_file!r} (or one level up): the policy file needs "
                                "its run's config to be rebuilt by mode=test/eval/play")
    path = os.path.join(output, CHECKPOINT_NAME)
    if os.path.abspath(path) == os.path.abspath(model_file):
        raise ValueError(f"output={output!r} would overwrite the checkpoint itself; choose another directory")
    state = policy_state(load_checkpoint(model_file), model_file)
    if cpu:
        config_text = cpu_config_text(config)
    else:
        with open(config, "rb") as f:
            config_text = f.read()
    save_checkpoint(path, state)
    atomic_write(os.path.join(output, CONFIG_NAME), lambda f: f.write(config_text))
    return path, state


def _count(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else str(n)


def main(argv: Sequence[str] | None = None) -> None:
    tool, unknown = split_tool_args(sys.argv[1:] if argv is None else argv, ARGS, __doc__)
    if unknown:
        raise SystemExit(f"unknown arguments {unknown}: export_policy takes model_file=, output= and cpu= only\n"
                         f"{__doc__}")
    model_file = tool["model_file"]
    output = tool["output"] or os.path.join(os.path.dirname(os.path.abspath(model_file)), "policy")
    try:
        path, state = export_policy(model_file, output, cpu=tool["cpu"].lower() == "true")
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f"export_policy: {err}") from None
    params = sum(v.numel() for v in state["model"].values() if v.is_floating_point())
    print(f"wrote {path} ({os.path.getsize(path) / 1e6:.2g} MB: actor {_count(params)} parameters in "
          f"{state['dtype']}, normaliser; iteration {state['iteration']}, samples {state['sample_count']}) "
          f"and {os.path.join(output, CONFIG_NAME)}")


if __name__ == "__main__":
    main()
