"""The command line of the tools that rebuild a checkpoint (export_onnx, latent_spread, latent_search,
disc_attribution, episode_breakdown): `KEY=VALUE` arguments, the tool's own keys and, for every other key, a config
override applied on top of the checkpoint's run config; the env and agent built from it; and where their JSON
summaries go."""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig

from mimickit import run as run_module
from mimickit.resume import checkpoint_config, checkpoint_key_overrides
from mimickit.utils.paths import CONF_DIR


def split_tool_args(argv: Sequence[str], defaults: Mapping[str, str | None],
                    doc: str) -> tuple[dict[str, str | None], list[str]]:
    """(the tool's keys, `defaults` where not given; the config overrides). `model_file` is required; `doc` (the
    tool's usage) is printed with an error."""
    tool, overrides = dict(defaults), []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep:
            raise SystemExit(f"arguments are KEY=VALUE, got {arg!r}\n{doc}")
        if key in defaults:
            tool[key] = value
        else:
            overrides.append(arg)
    if not tool.get("model_file"):
        raise SystemExit(f"model_file=<checkpoint> is required\n{doc}")
    return tool, overrides


def compose_checkpoint_config(model_file: str, overrides: Sequence[str], forced: Mapping[str, str],
                              job_name: str) -> tuple[DictConfig, DictConfig]:
    """(the config mode=test runs `model_file` with: its run's saved config, `overrides` on top and the tool's
    `forced` keys over them, whatever the command line says; the config composed without any override)."""
    forced = {"model_file": str(model_file), **forced}
    overrides = [o for o in checkpoint_key_overrides(model_file, overrides)
                 if o.split("=", 1)[0].lstrip("+~") not in forced]
    overrides += [f"{k}={v}" for k, v in forced.items()]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3", job_name=job_name):
        cfg = compose(config_name="config", overrides=overrides)
        defaults = compose(config_name="config")
    return checkpoint_config(cfg, overrides, defaults), defaults


def build_checkpoint_agent(cfg: DictConfig, model_file: str) -> tuple[Any, Any]:
    """(env, agent) of `cfg` (from `compose_checkpoint_config`), validated and built as `mode=test` builds them, the
    checkpoint's weights loaded."""
    run_module.validate(cfg)
    env = run_module.build_env(cfg)
    agent = instantiate(cfg.algo, env=env, out_dir=str(Path(model_file).resolve().parent), device=cfg.device)
    agent.load(model_file)
    return env, agent


def write_summary(output: str | Path, summary: Mapping[str, Any]) -> None:
    """Write a tool's summary as indented JSON (creating its folder) and say where."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(summary, indent=1))
    print(f"wrote {output}")
