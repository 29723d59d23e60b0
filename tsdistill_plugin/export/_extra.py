"""The optional dependencies of export and serving, with an error that names the extra."""

from __future__ import annotations

import importlib
from types import ModuleType


def import_extra(name: str, purpose: str, extra: str = "export") -> ModuleType:
    """Import ``name`` or raise an ``ImportError`` that says how to install it.

    Parameters
    ----------
    name
        Module name (``"onnx"``, ``"onnxruntime"``, ``"pyspark"``).
    purpose
        What it is needed for, for the message.
    extra
        The package extra that installs it (``"export"``, ``"spark"``).
    """
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise ImportError(
            f"{purpose} needs the package {name!r}, which is not installed; install the "
            f"{extra!r} extra: pip install 'tsdistill-plugin[{extra}]'."
        ) from error
