"""The optional dependencies of export and serving, with an error that names the extra."""

from __future__ import annotations

import importlib
from types import ModuleType


def import_extra(name: str, purpose: str) -> ModuleType:
    """Import ``name`` or raise an ``ImportError`` that says how to install it.

    Parameters
    ----------
    name
        Module name (``"onnx"``, ``"onnxruntime"``).
    purpose
        What it is needed for, for the message.
    """
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise ImportError(
            f"{purpose} needs the package {name!r}, which is not installed; install the "
            "'export' extra: pip install 'tsdistill-plugin[export]'."
        ) from error
