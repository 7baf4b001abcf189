"""The command line of the tools that rebuild a checkpoint (export_onnx, latent_spread, disc_attribution): `KEY=VALUE`
arguments, the tool's own keys and, for every other key, a config override applied on top of the checkpoint's run
config."""
from __future__ import annotations

from collections.abc import Mapping, Sequence


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
