"""Typed config schemas.

The run-level keys and the robot are dataclasses registered in Hydra's ConfigStore, so Hydra rejects unknown
keys and wrong types while composing; `validate_run` also rejects keys added with `+` and out-of-range values.
Each object built from a `_target_` is validated against a schema derived from the target's constructor signature
(its keyword names and type hints), so the YAML keys and the constructor can never drift apart. The schema
reaches into nested settings: a nested node with its own `_target_` (an optimiser) is checked against that
class, and a parameter annotated `KwargsOf(cls)` (a model's or a recorder's settings) against `cls`'s
constructor; a mapping marked `KeysIn(names)` (a reward table) may only have those keys. A typo or a wrong type at
any depth fails before anything is built.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import enum
import functools
import inspect
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from hydra.utils import get_class
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException


class Mode(str, enum.Enum):
    train = "train"
    test = "test"
    play = "play"  # kinematic playback (env=view_motion): no agent
    eval = "eval"  # tracking report of model_file on every clip (conf/eval, mimickit.eval.evaluator)


@dataclass
class JointGroupConfig:
    """PD gains and motor of the joints whose names fully match one of the `joints` regular expressions."""

    joints: list[str] = MISSING
    kp: float = MISSING  # N m / rad
    kd: float = MISSING  # N m s / rad
    torque_limit: float = MISSING  # N m
    armature: float = MISSING  # kg m^2, the motor's reflected inertia added to the joint


@dataclass
class RobotConfig:
    """A character: its MJCF and the bodies envs refer to by name."""

    mjcf: str = MISSING  # a path, or package://PACKAGE/path for a file an installed package ships
    key_bodies: list[str] = MISSING  # end effectors tracked by rewards and observations
    contact_bodies: list[str] = MISSING  # bodies allowed to touch the ground
    # per joint group (every DoF in exactly one): gains, torque limit and armature; null takes the MJCF's joint
    # stiffness/damping as kp/kd (the Isaac Gym convention of MimicKit's humanoid). The default serves run configs
    # saved before the key existed; conf/robot/*.yaml write it out.
    pd_gains: Optional[dict[str, JointGroupConfig]] = None


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
    recorder: Any = MISSING  # VideoRecorder settings, checked against its constructor by validate_run
    sim: Any = MISSING
    robot: RobotConfig = MISSING
    motion: Any = MISSING
    env: Any = MISSING
    randomization: Any = MISSING  # domain randomisation of the env (conf/randomization)
    algo: Any = MISSING
    logger: Any = MISSING
    eval: Any = MISSING  # settings of mode=eval (conf/eval)


def register_configs() -> None:
    ConfigStore.instance().store(name="run_schema", node=RunConfig)


# run-level integers and their smallest allowed value
_MINIMUM = {"num_envs": 1, "max_iters": 1, "test_episodes": 0, "video_steps": 1, "torch_threads": 1}


def validate_run(cfg: DictConfig) -> None:
    """Run-level checks Hydra's schema cannot make: keys added with `+` (Hydra accepts `+max_iter=5` into a
    structured config) and values out of range."""
    unknown = sorted(set(cfg.keys()) - {f.name for f in dataclasses.fields(RunConfig)})
    if unknown:
        raise ValueError(f"unknown run-level keys {unknown}; known: {sorted(f.name for f in dataclasses.fields(RunConfig))}")
    for key, minimum in _MINIMUM.items():
        if cfg[key] < minimum:
            raise ValueError(f"{key} must be >= {minimum}, got {cfg[key]}")
    _merge_checked(RobotConfig, OmegaConf.to_container(cfg.robot, resolve=True), "robot", "the robot")


def validate_recorder(cfg: DictConfig) -> None:
    """The run-level `recorder:` against VideoRecorder's constructor. Only for runs that render: importing the
    renderer sets up OpenGL, which training processes must not load (a spawned worker then aborts at exit)."""
    from mimickit.render.video import RUNTIME_ARGS as RECORDER_RUNTIME_ARGS, VideoRecorder

    recorder = _merge_checked(_kwargs_schema(VideoRecorder, RECORDER_RUNTIME_ARGS),
                              OmegaConf.to_container(cfg.recorder, resolve=True), "recorder", "the video recorder")
    if OmegaConf.missing_keys(recorder):
        raise ValueError(f"recorder lacks {sorted(OmegaConf.missing_keys(recorder))}")


BuiltLater = typing.TypeVar("BuiltLater")
# Type hint of a parameter that receives `functools.partial(cls, ...)`, built by Hydra from a nested node with the
# class's `_target_` and `_partial_: true` (validated against that class), completed by the receiver
# (a model gets its input and output sizes from the env).
Partial = collections.abc.Callable[..., BuiltLater]


@dataclass(frozen=True)
class KwargsOf:
    """Type-hint marker for a parameter that takes a mapping of another class's keyword arguments, so its YAML is
    validated against that constructor:

        model: Annotated[dict, KwargsOf(ActorCritic, filled_in=("obs_dim", "action_dim"))]

    `filled_in` are the arguments the receiving code supplies itself.
    """

    cls: type
    filled_in: tuple[str, ...] = ()


@dataclass(frozen=True)
class KeysIn:
    """Type-hint marker for a constructor parameter that takes a mapping whose keys must be among `names` (the terms
    an env knows), so an unknown key fails validation with the known ones:

        reward: Annotated[dict[str, Annotated[dict, KwargsOf(RewardTerm)]], KeysIn(("pose", "vel"), "reward term")]
    """

    names: tuple[str, ...]
    what: str = "key"


# Constructor parameters filled in by the composition root rather than by YAML.
RUNTIME_ARGS = {"engine", "env", "motion_lib", "logger", "out_dir"}

_SCALARS = (int, float, bool, str)


def _is_scalar(hint: Any) -> bool:
    return hint in _SCALARS or (inspect.isclass(hint) and issubclass(hint, enum.Enum))


def _schema_type(hint: Any) -> Any:
    """Map a constructor type hint onto one OmegaConf can check; fall back to Any."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if _is_scalar(hint):
        return hint
    if origin is typing.Annotated:
        marker = next((m for m in hint.__metadata__ if isinstance(m, KwargsOf)), None)
        return _kwargs_schema(marker.cls, marker.filled_in) if marker else _schema_type(args[0])
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) > 1:  # `float | Tensor` (torch.optim's lr): the one scalar a config can hold
            inner = [a for a in inner if _is_scalar(a)]
        if len(inner) != 1:
            return Any
        return Optional[_schema_type(inner[0])] if type(None) in args else _schema_type(inner[0])
    if origin in (list, typing.List, collections.abc.Sequence) and args:
        return list[_schema_type(args[0])]
    if origin in (dict, typing.Dict, collections.abc.Mapping) and args:
        return dict[str, _schema_type(args[1])]
    return Any


def _param_hints(cls: type) -> dict[str, Any]:
    """Constructor type hints; annotations that only resolve under TYPE_CHECKING become Any."""
    try:
        return typing.get_type_hints(cls.__init__, include_extras=True)
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
    `**kwargs` reach); `_partial_: true` makes the parameters without a default optional (they come later)."""
    cls = get_class(target)
    fields = [("_target_", str, field(default=target)), ("_partial_", bool, field(default=False))]
    fields += _param_fields(cls, RUNTIME_ARGS)
    return dataclasses.make_dataclass(f"{cls.__name__}Config", fields)


@functools.cache
def _kwargs_schema(cls: type, filled_in: tuple[str, ...]) -> type:
    return dataclasses.make_dataclass(f"{cls.__name__}Kwargs", _param_fields(cls, set(filled_in)))


def _param_fields(cls: type, skipped: set[str]) -> list[tuple[str, Any, Any]]:
    fields = []
    for param, hint in _constructor_params(cls):
        if param.name in skipped:
            continue
        if param.default is inspect.Parameter.empty:
            default = field(default=MISSING)
        elif isinstance(param.default, (list, dict)):
            default = field(default_factory=lambda v=param.default: v)
        elif isinstance(param.default, tuple):  # OmegaConf holds sequences as lists
            default = field(default_factory=lambda v=param.default: list(v))
        else:
            default = field(default=param.default)
        fields.append((param.name, _schema_type(hint), default))
    return fields


def _merge_checked(schema: type, values: dict, where: str, what: str) -> DictConfig:
    """`values` merged into `schema`, or a ValueError naming the full key, the value and the expected type."""
    try:
        return OmegaConf.merge(OmegaConf.structured(schema), values)
    except OmegaConfBaseException as err:
        key = f"{where}.{err.full_key}" if getattr(err, "full_key", None) else where
        raise ValueError(f"invalid '{key}' for {what}: {err.msg}") from None


def validate_target(cfg: DictConfig, group: str) -> None:
    """Raise a clear error if `cfg`, or a nested node with its own `_target_`, has keys or values its `_target_`
    does not accept."""
    if "_target_" not in cfg:
        raise ValueError(f"config group '{group}' has no _target_")
    _validate_node(OmegaConf.to_container(cfg, resolve=True), group)


def _validate_node(values: dict, where: str) -> None:
    target = values["_target_"]
    _check_known_keys(target, values, where)
    merged = _merge_checked(schema_for(target), values, where, target)
    missing = OmegaConf.missing_keys(merged)
    if missing and not values.get("_partial_", False):
        raise ValueError(f"'{where}' config for {target} lacks required keys {sorted(missing)}")
    _validate_nested(values, where)


def _check_known_keys(target: str, values: dict, where: str) -> None:
    """The mappings given to parameters marked `KeysIn` have only the keys it names."""
    for param, hint in _constructor_params(get_class(target)):
        markers = hint.__metadata__ if typing.get_origin(hint) is typing.Annotated else ()
        marker = next((m for m in markers if isinstance(m, KeysIn)), None)
        value = values.get(param.name)
        if marker is None or not isinstance(value, dict):
            continue
        unknown = [key for key in value if key not in marker.names]
        if unknown:
            raise ValueError(
                f"invalid '{where}.{param.name}' for {target}: unknown {marker.what}s "
                f"{unknown}; known: {list(marker.names)}"
            )


def _validate_nested(values: dict, where: str) -> None:
    """Validate every node below `values` that has its own `_target_`, however deep (update.actor.optimizer)."""
    for key, value in values.items():
        if isinstance(value, dict) and "_target_" in value:
            _validate_node(value, f"{where}.{key}")
        elif isinstance(value, dict):
            _validate_nested(value, f"{where}.{key}")
