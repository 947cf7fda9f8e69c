"""Find the user's network named on the command line (``--network REF``).

``REF`` is ``package.module:attr`` (imported as Python would from the current folder) or
``path/to/file.py:attr``; ``attr`` may be dotted (``module:Zoo.build``). It names an
``nn.Module`` instance, or a class or function called with no arguments that returns one (the
place where the user loads their weights). Importing runs the user's code, as ``python -m``
would: this is for networks the user chose to export, never for files received from others.
Every failure is one :class:`InvalidSpecError` line naming ``REF`` and what went wrong.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from torch import nn

from ..errors import InvalidSpecError, first_line

USAGE = "package.module:attr or path/to/file.py:attr"


def load_network(ref: str) -> nn.Module:
    """The ``nn.Module`` that ``ref`` names (built by calling it when it is a factory)."""
    where, sep, attr = ref.rpartition(":")
    if not sep or not where or not attr:
        raise InvalidSpecError(f"--network {ref!r}: expected {USAGE}")
    module = _import(ref, where)
    obj: object = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise InvalidSpecError(f"--network {ref!r}: {where} has no attribute "
                                   f"{attr!r}") from None
    if not isinstance(obj, nn.Module):
        if not callable(obj):
            raise InvalidSpecError(f"--network {ref!r}: {attr} is neither an nn.Module nor "
                                   f"a function returning one (type {type(obj).__name__})")
        try:
            obj = obj()
        except (Exception, SystemExit) as e:  # the user's code: anything
            raise InvalidSpecError(f"--network {ref!r}: calling {attr}() failed: "
                                   f"{type(e).__name__}: {first_line(e)}") from None
        if not isinstance(obj, nn.Module):
            raise InvalidSpecError(f"--network {ref!r}: {attr}() returned type "
                                   f"{type(obj).__name__}, not an nn.Module")
    return obj


def _import(ref: str, where: str) -> ModuleType:
    """The module ``where`` names: a ``.py`` file path, or a dotted module name."""
    try:
        if where.endswith(".py"):
            return _import_file(ref, Path(where))
        if "" not in sys.path and "." not in sys.path:  # python -m adds it; an entry point not
            sys.path.insert(0, "")
        return importlib.import_module(where)
    except InvalidSpecError:
        raise
    except ModuleNotFoundError as e:
        raise InvalidSpecError(f"--network {ref!r}: no module named {e.name!r} (run from the "
                               "folder that holds it, or give path/to/file.py:attr)") from None
    except (Exception, SystemExit) as e:  # importing runs the user's code: anything
        raise InvalidSpecError(f"--network {ref!r}: importing {where} failed: "
                               f"{type(e).__name__}: {first_line(e)}") from None


def _import_file(ref: str, path: Path) -> ModuleType:
    if not path.is_file():
        raise InvalidSpecError(f"--network {ref!r}: no such file {str(path)!r}")
    # A private name per file, so two files called model.py never share one module.
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    name = f"_chanattn_user_network_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InvalidSpecError(f"--network {ref!r}: cannot import {str(path)!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module
