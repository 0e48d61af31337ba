"""Plug-in discovery shared by the format registries (NDR formats, mail-log formats).

A registry package lists no modules by hand: every module in it whose name does not start
with ``_`` and that defines ``FORMAT`` (an instance of the registry's base class) is a format.
Adding a format is adding a file — there is no second list to forget.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def discover(package: str, path: Iterable[str], kind: type[T], attr: str = "FORMAT") -> list[T]:
    """Import the modules of ``package`` (found on ``path``) and collect their ``attr``."""
    found: list[T] = []
    for info in pkgutil.iter_modules(list(path)):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        value = getattr(module, attr, None)
        if isinstance(value, kind):
            found.append(value)
    return found
