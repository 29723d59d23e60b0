"""Where a student comes from: its teacher and a digest of its training data.

The integrations record this at ``fit`` (see ``training_provenance``); the exporter writes it
into the ONNX file. Plain NumPy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np


def describe_teacher(teacher: object | None) -> str:
    """A short description of a teacher adapter: library, class, lookback and horizon.

    Parameters
    ----------
    teacher
        A :class:`~tsdistill_plugin.core.Teacher` (its ``model``, when it wraps one, is
        named) or ``None``.
    """
    if teacher is None:
        return "none (trained without distillation)"
    model = getattr(teacher, "model", None) or teacher
    cls = type(model)
    lengths = ", ".join(
        f"{name}={getattr(teacher, name)}"
        for name in ("input_len", "horizon")
        if getattr(teacher, name, None) is not None
    )
    return f"{cls.__module__.split('.', 1)[0]}.{cls.__name__}({lengths})"


def data_digest(arrays: Iterable[np.ndarray]) -> str:
    """SHA-256 of the training values: each array's shape, then its values as float64.

    Parameters
    ----------
    arrays
        The training series' values in training order (e.g. ``[time, channels]`` each).
    """
    digest = hashlib.sha256()
    for array in arrays:
        values = np.ascontiguousarray(array, dtype=np.float64)
        digest.update(repr(values.shape).encode())
        digest.update(values.tobytes())
    return f"sha256:{digest.hexdigest()}"


def training_provenance(
    teacher: object | None, arrays: Iterable[np.ndarray], **extra: object
) -> dict[str, object]:
    """What a student records about its training at ``fit``: teacher, data digest and
    ``extra`` (such as component names and frequency where the library knows them)."""
    return {"teacher": describe_teacher(teacher), "data_digest": data_digest(arrays), **extra}
