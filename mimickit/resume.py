"""Saved run configs: what a training run may do with a run directory that already holds a checkpoint, and which
config a checkpoint is tested or played with.

- Without `resume=true` the run is refused: starting afresh would overwrite the earlier run's config, log and
  checkpoint. A requeued SLURM job (SLURM_RESTART_COUNT > 0) reruns its own command and counts as `resume=true`.
- With `resume=true` the saved `config.yaml` is the base, so the original overrides need not be repeated. The
  command line may change the keys in RESUMABLE_KEYS (a longer run, other logging); any other override that
  differs from the saved run (motion, num_envs, network sizes, ...) is refused with the list of differences. Keys
  added since the run was saved take today's defaults, or the command line's values.
- `mode=test` / `play` / `eval` with `model_file` run with the config saved beside the checkpoint (its run directory's
  `config.yaml`), so the networks and observations fit it; keys set on the command line still win (also keys only
  the checkpoint's options have: `with_checkpoint_keys`), and a clip other than the one trained on is allowed with
  a warning.
- An engine picked on the command line (`sim=mujoco` to watch a GPU-trained policy on the CPU, or `sim=mjwarp`
  again) keeps the saved run's physics: every key its option shares with the saved engine node (rates, damping,
  gains, ...) but the engine's placement (`ENGINE_PLACEMENT_KEYS`) takes the saved value, unless the command line
  sets it. The policy was trained on that physics; the option's defaults would silently change it.
- Saved configs are resolved; both cases put back the interpolations of the saved run's group options where the
  saved value is what they resolved to (`restore_interpolations`), so `sim.num_envs` follows `num_envs` again.
"""
from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mimickit.config import RunConfig
from mimickit.utils.checkpoint import run_checkpoints
from mimickit.utils.paths import CONF_DIR

CONFIG_NAME = "config.yaml"
# keys (and subtrees) a resumed run may change: they do not change what is being trained
RESUMABLE_KEYS = (
    "max_iters", "resume", "test_episodes", "algo.test_episodes", "torch_threads", "tf32", "visualize", "video",
    "video_steps", "recorder", "logger", "algo.iters_per_output", "algo.save_intermediate", "algo.graph_update",
    "eval",
)
# run-level keys that say how to run, not what was trained: a tested checkpoint takes them from the command line
HOW_TO_RUN_KEYS = ("mode", "model_file", "resume", "max_iters", "test_episodes", "visualize", "video", "video_steps",
                   "recorder", "torch_threads", "tf32", "eval")
# engine keys that say where the physics runs, not what it simulates: an engine picked on the command line keeps
# the saved run's other keys (see `keep_engine_physics`)
ENGINE_PLACEMENT_KEYS = ("_target_", "num_envs", "device")
_ABSENT = "<absent>"

log = logging.getLogger(__name__)


class RunDirectoryError(RuntimeError):
    """A run directory that this run may not write into, or may not resume as asked."""


def is_requeued_job() -> bool:
    return int(os.environ.get("SLURM_RESTART_COUNT") or 0) > 0


def resolve_resume(cfg: DictConfig, out_dir: str, overrides: Sequence[str], defaults: DictConfig) -> DictConfig:
    """The config a training run in `out_dir` runs with: `cfg` itself for a fresh directory, the saved run's config
    (plus the resumable overrides, with `resume` set) for a resumed one.

    `overrides` are the command line's task overrides and `defaults` the config composed without them: together
    they tell which keys the user set, so that keys left out keep the saved run's values.
    """
    checkpoints = run_checkpoints(out_dir)
    resume = cfg.resume or is_requeued_job()
    if not checkpoints:
        if cfg.resume:
            raise RunDirectoryError(f"resume=true, but {out_dir!r} holds no checkpoint (model.pt or "
                                    "checkpoints/iter_*.pt) to resume from")
        return cfg
    if not resume:
        raise RunDirectoryError(
            f"{out_dir!r} already holds a checkpoint ({os.path.relpath(checkpoints[0], out_dir)}) of an earlier run. "
            "Pass resume=true to continue that run, or choose another hydra.run.dir to start a new one.")
    saved_path = os.path.join(out_dir, CONFIG_NAME)
    if not os.path.isfile(saved_path):
        raise RunDirectoryError(f"cannot resume {out_dir!r}: it has a checkpoint but no {CONFIG_NAME} to resume with")
    saved = OmegaConf.load(saved_path)
    resumed, differences = merge_into_saved(saved, cfg, explicit_keys(cfg, overrides, defaults))
    if differences:
        lines = "\n".join(f"  {key}: {old} (saved run) -> {new} (now)" for key, old, new in differences)
        raise RunDirectoryError(
            f"resume=true continues the run saved in {saved_path}; these overrides would change it:\n{lines}\n"
            f"Only {', '.join(RESUMABLE_KEYS)} may change on resume; start a new run directory for the others.")
    resumed.resume = True
    return resumed


def checkpoint_config(cfg: DictConfig, overrides: Sequence[str], defaults: DictConfig) -> DictConfig:
    """The config `mode=test`/`play`/`eval` runs `cfg.model_file` with: its run's saved config with the command
    line's keys on top, or `cfg` itself when the checkpoint has no saved config beside it."""
    saved_path = saved_config_path(cfg.model_file)
    if saved_path is None:
        log.warning("no %s beside %s: testing with the config composed from the command line", CONFIG_NAME,
                    cfg.model_file)
        return cfg
    saved = OmegaConf.load(saved_path)
    merged = OmegaConf.merge(OmegaConf.structured(RunConfig), saved)
    groups = chosen_groups(cfg, overrides)
    restore_interpolations(merged, saved, cfg, skip=groups)
    overridden = [o.key_or_group for o in OverridesParser.create().parse_overrides(list(overrides))]
    for group in groups:  # another option replaces the saved node whole (sim=mujoco), interpolations included
        OmegaConf.update(merged, group, OmegaConf.select(cfg, group), merge=False)
    if "sim" in groups:
        keep_engine_physics(saved.sim, merged.sim, skip=[k[len("sim."):] for k in overridden if _under(k, "sim")])
    interpolated = interpolated_keys(cfg)  # set by the command line only through what they point to: restored above
    for key in sorted({*HOW_TO_RUN_KEYS, *explicit_keys(cfg, overrides, defaults)}):
        if any(_under(key, g) for g in groups) or (key in interpolated and not any(_under(key, o) for o in overridden)):
            continue
        if OmegaConf.select(cfg, key, default=_ABSENT) != _ABSENT:
            OmegaConf.update(merged, key, OmegaConf.select(cfg, key), merge=False)
    fill_new_keys(merged, cfg)
    trained_on, tested_on = OmegaConf.select(saved, "motion.motion_file"), OmegaConf.select(merged, "motion.motion_file")
    if trained_on != tested_on:
        log.warning("the checkpoint was trained on %s; mode=%s runs it on %s", trained_on, merged.mode.value, tested_on)
    log.info("using the checkpoint's run config %s (command-line keys on top)", saved_path)
    return merged


def with_checkpoint_keys(args: Sequence[str]) -> list[str]:
    """The command line `args` of `mode=test`/`play`/`eval` with a `model_file`, with its overrides of keys the
    checkpoint's saved run config has written `++key=value` (`checkpoint_key_overrides`); other command lines as
    they are."""
    settings = dict(arg.split("=", 1) for arg in args if "=" in arg and not arg.startswith(("-", "+", "~")))
    model_file = settings.get("model_file")
    if model_file in (None, "null") or settings.get("mode", "train") == "train":
        return list(args)
    return checkpoint_key_overrides(model_file, args)


def checkpoint_key_overrides(model_file: str, overrides: Sequence[str]) -> list[str]:
    """`overrides` with those that set a key of `model_file`'s saved run config written `++key=value` (add or
    override). Hydra composes the command line on the default config before `checkpoint_config` puts the saved one
    in its place, so it would refuse a key that only the checkpoint's options have (`algo.llc_model_file` of an ASE
    controller, `env.default_reset_prob` of an ASE run, tested without `experiment=`); `++` lets it through, and
    `checkpoint_config` applies it as any other. Group choices (`sim=mujoco`) and Hydra's own keys stay as given."""
    path = saved_config_path(model_file)
    if path is None:
        return list(overrides)
    saved = OmegaConf.load(path)

    def saved_key(override: str) -> bool:
        key, sep, _ = override.partition("=")
        return bool(sep) and "." in key and not key.startswith(("+", "~", "-", "hydra.")) and OmegaConf.select(
            saved, key, default=_ABSENT, throw_on_resolution_failure=False) != _ABSENT

    return [f"++{o}" if saved_key(o) else o for o in overrides]


def keep_engine_physics(saved_sim: DictConfig, sim: DictConfig, skip: Sequence[str] = ()) -> list[str]:
    """Give the engine node `sim` the saved run's values of the keys both engine nodes have, but the placement keys
    and those in `skip` (set on the command line); returns the keys it kept."""
    kept = [k for k in sim if k in saved_sim and k not in ENGINE_PLACEMENT_KEYS and k not in skip]
    for key in kept:
        sim[key] = saved_sim[key]
    return kept


def saved_config_path(model_file: str) -> str | None:
    """The config.yaml of the run that wrote `model_file` (model.pt, or checkpoints/iter_*.pt one level down)."""
    directory = os.path.dirname(os.path.abspath(model_file))
    for candidate in (directory, os.path.dirname(directory)):
        path = os.path.join(candidate, CONFIG_NAME)
        if os.path.isfile(path):
            return path
    return None


def chosen_groups(cfg: DictConfig, overrides: Sequence[str]) -> list[str]:
    """Config groups the command line picks an option of (`sim=mujoco`, `motion=walk`): overrides whose value is a
    name and whose key holds a node in `cfg`. Their saved node must go whole, or keys of the saved option that the
    new one lacks (mjwarp's `nconmax` under sim=mujoco) would stay."""
    groups = []
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        key = override.key_or_group
        if isinstance(override.value(), str) and isinstance(OmegaConf.select(cfg, key, default=None), DictConfig):
            groups.append(key)
    return groups


def explicit_keys(cfg: DictConfig, overrides: Sequence[str], defaults: DictConfig) -> set[str]:
    """Leaf keys the command line set: those it changed from the defaults (group choices and presets included),
    and every key under an override's key, even where the value equals the default."""
    leaves, default_leaves = flat_leaves(cfg), flat_leaves(defaults)
    keys = {k for k in leaves.keys() | default_leaves.keys() if leaves.get(k, _ABSENT) != default_leaves.get(k, _ABSENT)}
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        keys |= {k for k in leaves.keys() | default_leaves.keys() if _under(k, override.key_or_group)}
    return keys


def merge_into_saved(saved: DictConfig, cfg: DictConfig, keys: set[str]) -> tuple[DictConfig, list[tuple[str, Any, Any]]]:
    """The saved config with the resumable changes of `keys` applied, and the other changes as
    (key, saved value, new value)."""
    saved_leaves, leaves = flat_leaves(saved), flat_leaves(cfg)
    changed = sorted(k for k in keys if saved_leaves.get(k, _ABSENT) != leaves.get(k, _ABSENT))
    resumed = OmegaConf.merge(OmegaConf.structured(RunConfig), saved)
    restore_interpolations(resumed, saved, cfg)
    interpolated = interpolated_keys(cfg)  # algo.test_episodes: follows test_episodes where the saved run's did
    for key in {r for r in RESUMABLE_KEYS if any(_under(k, r) for k in changed)} - interpolated:
        OmegaConf.update(resumed, key, OmegaConf.select(cfg, key), merge=False)
    fill_new_keys(resumed, cfg)
    # a key the saved run lacks (added since) takes the command line's value through fill_new_keys: setting it
    # changes nothing the run was trained with (an ADD run from before env.world_body_pos resumes with false)
    refused = [(k, saved_leaves[k], leaves.get(k, _ABSENT)) for k in changed
               if k in saved_leaves and not any(_under(k, r) for r in RESUMABLE_KEYS)]
    return resumed, refused


def fill_new_keys(merged: DictConfig, cfg: DictConfig) -> None:
    """Keys that a config saved before they existed lacks take `cfg`'s values (today's defaults, or the command
    line's): run-level keys left missing by the schema (e.g. `eval`), and the keys of a node that builds the same
    class in `merged` as in `cfg` (`logger.txt.columns` under RunLogger): every constructor keyword is written in
    conf/, so a key of that class that the saved node lacks is one added since. A group whose saved node builds
    another class than `cfg`'s (an AMP run tested without `experiment=`: AMPEnv against the default DeepMimicEnv)
    takes the keys it lacks from the options of conf/<group>/ that build the saved class, where they all agree.
    Interpolations stay interpolations."""
    for key in merged:
        if OmegaConf.is_missing(merged, key) and OmegaConf.select(cfg, str(key), default=_ABSENT) != _ABSENT:
            OmegaConf.update(merged, str(key), OmegaConf.select(cfg, str(key)), merge=False)
    present = flat_leaves(merged, resolve=False)

    def lacks(key: str) -> bool:  # not present; not below a saved leaf (tb: null); not above saved leaves (a null of
        # today's default that the saved run filled in: robot.pd_gains of a G1 run tested without robot=g1)
        return key not in present and not any(_under(key, p) or _under(p, key) for p in present)

    for key, value in flat_leaves(cfg, resolve=False).items():
        parent = key.rpartition(".")[0]
        if parent and lacks(key) and isinstance(
                OmegaConf.select(merged, parent, default=None, throw_on_resolution_failure=False),
                DictConfig) and _same_class_at(merged, cfg, parent):
            OmegaConf.update(merged, key, value, merge=False)
    for group, target in _replaced_groups(merged, cfg).items():
        for key, value in _shared_leaves_of_options(group, target).items():
            if lacks(key):
                OmegaConf.update(merged, key, value, merge=False)


def _replaced_groups(saved: DictConfig, cfg: DictConfig) -> dict[str, str | None]:
    """{group: saved `_target_`} of the config groups whose saved node builds another class than `cfg`'s."""
    replaced = {}
    for group in (str(key) for key in cfg):
        saved_node, node = OmegaConf.select(saved, group, default=None), OmegaConf.select(cfg, group, default=None)
        if isinstance(saved_node, DictConfig) and isinstance(node, DictConfig) and (CONF_DIR / group).is_dir() \
                and saved_node.get("_target_") != node.get("_target_"):
            replaced[group] = saved_node.get("_target_")
    return replaced


def _same_class_at(merged: DictConfig, cfg: DictConfig, key: str) -> bool:
    """Whether the nearest node at or above `key` with a `_target_` (in either config) has the same one in both."""
    parts = key.split(".")
    for end in range(len(parts), 0, -1):
        node = ".".join(parts[:end])
        targets = [OmegaConf.select(c, f"{node}._target_", default=None, throw_on_resolution_failure=False)
                   for c in (merged, cfg)]
        if any(t is not None for t in targets):
            return targets[0] == targets[1]
    return True


def restore_interpolations(merged: DictConfig, saved: DictConfig, cfg: DictConfig, skip: Sequence[str] = ()) -> None:
    """Put the saved run's interpolations (`sim.num_envs: ${num_envs}`) back into `merged`, the saved config (whose
    values were resolved when it was written), so that they follow the keys they point to after the merge.

    An interpolation goes back only where the saved value is what it resolves to in the saved config: a literal
    of the saved run's own (AMP's `env.key_bodies` list, or a value set on its command line) stays. The
    interpolations are those of the saved run's group options (`option_interpolations`), never those of another
    option composed now (the default env=deepmimic's `key_bodies: ${robot.key_bodies}` for an AMP run tested
    without `experiment=`). Groups in `skip` are left alone (the command line picks another option of them)."""
    for key, expression in option_interpolations(saved, cfg).items():
        if any(_under(key, group) for group in skip):
            continue
        value = _plain(OmegaConf.select(saved, key, default=_ABSENT))
        if value != _ABSENT and value == _resolved_at(saved, key, expression):
            OmegaConf.update(merged, key, expression, merge=False)


def option_interpolations(saved: DictConfig, cfg: DictConfig) -> dict[str, str]:
    """{leaf key: "${...}"} of the config the saved run was composed from, as far as its saved values tell.

    The saved config.yaml is resolved and does not name the group options it came from, so an option is known by
    the `_target_` of its group's node. Where `cfg` (composed now) has the saved node's `_target_` (the same
    option, or another of the same class, like every motion=...), its interpolations are taken. Where it does not
    (the saved env is AMPEnv, `cfg`'s the default DeepMimicEnv), the interpolations are those every option of the
    group with the saved `_target_` has (conf/env/amp.yaml's), or none when no option has it."""
    found: dict[str, str] = {}
    replaced = _replaced_groups(saved, cfg)
    for group, target in replaced.items():
        found.update({k: v for k, v in _shared_leaves_of_options(group, target).items() if _is_interpolation(v)})
    for key, value in flat_leaves(cfg, resolve=False).items():
        if _is_interpolation(value) and key.split(".")[0] not in replaced:
            found[key] = value
    return found


def interpolated_keys(cfg: DictConfig) -> set[str]:
    """Leaf keys whose value in `cfg` is an interpolation: it says what they point to, not what they are."""
    return {key for key, value in flat_leaves(cfg, resolve=False).items() if _is_interpolation(value)}


@functools.cache
def _shared_leaves_of_options(group: str, target: str | None) -> dict[str, Any]:
    """The leaves (unresolved: interpolations as written) that every option of conf/<group>/ whose node builds
    `target` has, with the same value. Cached: both `option_interpolations` and `fill_new_keys` ask (composing a
    group's options takes ~0.2 s); callers only read the result."""
    if target is None:
        return {}
    shared: dict[str, Any] | None = None
    for path in sorted((CONF_DIR / group).glob("*.yaml")):
        try:
            node = OmegaConf.select(_compose(f"{group}/{path.stem}"), group, default=None)
        except (HydraException, OmegaConfBaseException) as err:  # not an option that composes: not the saved one
            log.debug("skipping %s/%s: %s", group, path.stem, err)
            continue
        if not isinstance(node, DictConfig) or node.get("_target_") != target:
            continue
        mine = {f"{group}.{k}": v for k, v in flat_leaves(node, resolve=False).items()}
        shared = mine if shared is None else {k: v for k, v in shared.items() if mine.get(k) == v}
    return shared or {}


def _compose(config_name: str) -> DictConfig:
    """A config of conf/ (a group option: "env/amp"), within the running Hydra app or outside one."""
    if GlobalHydra.instance().is_initialized():
        return compose(config_name=config_name)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name=config_name)


def _resolved_at(cfg: DictConfig, key: str, expression: str) -> Any:
    """What `expression` resolves to when written at `key` of `cfg` (a copy), or _ABSENT if it does not resolve."""
    probe = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    OmegaConf.update(probe, key, expression, merge=False)
    try:
        return _plain(OmegaConf.select(probe, key, default=_ABSENT, throw_on_resolution_failure=True))
    except OmegaConfBaseException:
        return _ABSENT


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def _is_interpolation(value: Any) -> bool:
    return isinstance(value, str) and "${" in value


def flat_leaves(cfg: DictConfig, resolve: bool = True) -> dict[str, Any]:
    """{"a.b.c": value} of every leaf (lists are leaves), interpolations resolved unless `resolve` is False."""
    out: dict[str, Any] = {}

    def visit(node: Any, prefix: str) -> None:
        if isinstance(node, dict) and node:
            for key, value in node.items():
                visit(value, f"{prefix}.{key}" if prefix else str(key))
        else:
            out[prefix] = node

    visit(OmegaConf.to_container(cfg, resolve=resolve, enum_to_str=True), "")
    return out


def _under(key: str, prefix: str) -> bool:
    return key == prefix or key.startswith(prefix + ".")
