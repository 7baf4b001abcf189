"""Typed config schemas.

The run-level keys are a dataclass registered in Hydra's ConfigStore, so Hydra rejects unknown keys and wrong
types while composing. Each object built from a `_target_` is validated against a schema derived from the
target's constructor signature (its keyword names and type hints), so the YAML keys and the constructor can never
drift apart: a typo or a wrong type fails before anything is simulated.
"""
from __future__ import annotations

import dataclasses
import enum
import inspect
import typing
from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from hydra.utils import get_class
from omegaconf import MISSING, DictConfig, OmegaConf


class Mode(str, enum.Enum):
    train = "train"
    test = "test"
    play = "play"  # kinematic playback (env=view_motion): no agent


@dataclass
class RunConfig:
    """Run-level settings; the groups below are validated against their `_target_`s."""

    mode: Mode = Mode.train
    num_envs: int = 64
    device: str = "cpu"
    devices: Optional[list[str]] = None  # several workers, e.g. [cpu, cpu] or [cuda:0, cuda:1]
    seed: int = 0
    max_iters: int = 1000
    test_episodes: int = 32
    model_file: Optional[str] = None
    resume: bool = False
    visualize: bool = False
    video: bool = False
    video_steps: int = 300
    torch_threads: int = 1
    tf32: bool = True
    sim: Any = MISSING
    robot: Any = MISSING
    motion: Any = MISSING
    env: Any = MISSING
    algo: Any = MISSING
    logger: Any = MISSING


def register_configs() -> None:
    ConfigStore.instance().store(name="run_schema", node=RunConfig)


# Constructor parameters filled in by the composition root rather than by YAML.
RUNTIME_ARGS = {"engine", "env", "motion_lib", "logger", "out_dir"}

_SCALARS = (int, float, bool, str)


def _schema_type(hint: Any) -> Any:
    """Map a constructor type hint onto one OmegaConf can check; fall back to Any."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint in _SCALARS or (inspect.isclass(hint) and issubclass(hint, enum.Enum)):
        return hint
    if origin is typing.Union and type(None) in args:
        inner = [a for a in args if a is not type(None)]
        return Optional[_schema_type(inner[0])] if len(inner) == 1 else Any
    if origin in (list, typing.List) and args:
        return list[_schema_type(args[0])]
    if origin in (dict, typing.Dict) and args:
        return dict[str, _schema_type(args[1])]
    return Any


def _param_hints(cls: type) -> dict[str, Any]:
    """Constructor type hints; annotations that only resolve under TYPE_CHECKING become Any."""
    try:
        return typing.get_type_hints(cls.__init__)
    except NameError:
        namespace = vars(inspect.getmodule(cls))
        hints = {}
        for name, annotation in inspect.get_annotations(cls.__init__).items():
            try:
                hints[name] = eval(annotation, namespace) if isinstance(annotation, str) else annotation
            except NameError:
                hints[name] = Any
        return hints


def _constructor_params(cls: type) -> list[tuple[inspect.Parameter, Any]]:
    """Keyword parameters of `cls`, following `**kwargs` into the base classes' constructors."""
    params: dict[str, tuple[inspect.Parameter, Any]] = {}
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass is object:
            continue
        hints = _param_hints(klass)
        signature = inspect.signature(klass.__init__).parameters
        for name, param in signature.items():
            if param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY) and name != "self":
                params.setdefault(name, (param, hints.get(name, Any)))
        if not any(p.kind is p.VAR_KEYWORD for p in signature.values()):
            break
    return list(params.values())


def schema_for(target: str) -> type:
    """A dataclass with one typed field per keyword of `target`'s constructor (and of the constructors its
    `**kwargs` reach)."""
    fields = [("_target_", str, field(default=target))]
    for param, hint in _constructor_params(get_class(target)):
        if param.name in RUNTIME_ARGS:
            continue
        if param.default is inspect.Parameter.empty:
            default = field(default=MISSING)
        elif isinstance(param.default, (list, dict)):
            default = field(default_factory=lambda v=param.default: v)
        else:
            default = field(default=param.default)
        fields.append((param.name, _schema_type(hint), default))
    return dataclasses.make_dataclass(f"{get_class(target).__name__}Config", fields)


def validate_target(cfg: DictConfig, group: str) -> None:
    """Raise a clear error if `cfg` has keys or values its `_target_` does not accept."""
    if "_target_" not in cfg:
        raise ValueError(f"config group '{group}' has no _target_")
    values = OmegaConf.to_container(cfg, resolve=True)
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema_for(cfg._target_)), values)
    except Exception as err:  # OmegaConf's message names the key and the expected type
        raise ValueError(f"invalid '{group}' config for {cfg._target_}: {err}") from None
    missing = [k for k in OmegaConf.missing_keys(merged)]
    if missing:
        raise ValueError(f"'{group}' config for {cfg._target_} lacks required keys {missing}")
