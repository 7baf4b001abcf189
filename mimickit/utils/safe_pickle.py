"""Unpickling that builds only numpy arrays (and, where asked, OrderedDicts): loading a data file never runs code."""
from __future__ import annotations

import io
import pickle
from typing import BinaryIO

NUMPY_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }
)
ORDERED_DICT = frozenset({("collections", "OrderedDict")})


class RefusedGlobalError(pickle.UnpicklingError):
    """The file asked for a class or function outside the allowed set."""


class RestrictedUnpickler(pickle.Unpickler):
    """Refuses every global outside `allowed`; `refusal` says what the file was expected to hold."""

    def __init__(self, file: BinaryIO, allowed: frozenset = NUMPY_GLOBALS, refusal: str = "not plain data"):
        super().__init__(file)
        self.allowed = allowed
        self.refusal = refusal

    def find_class(self, module: str, name: str):
        if (module, name) in self.allowed:
            return super().find_class(module, name)
        raise RefusedGlobalError(f"refusing to unpickle {module}.{name}: {self.refusal}")


def restricted_loads(data: bytes, allowed: frozenset = NUMPY_GLOBALS, refusal: str = "not plain data"):
    return RestrictedUnpickler(io.BytesIO(data), allowed, refusal).load()
