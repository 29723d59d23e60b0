"""Benchmark backends: one small module per library behind :class:`~.base.Backend`.

A backend module imports its library, so it is imported only when chosen.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the base imports torch and Lightning: loaded with the backend itself
    from .base import Backend

BACKENDS: dict[str, str] = {
    "darts": "tsdistill_plugin.benchmark.backends.darts_backend:DartsBackend",
    "neuralforecast": "tsdistill_plugin.benchmark.backends.nf_backend:NeuralForecastBackend",
}
"""Backend name -> ``module:class``."""


def get_backend(name: str) -> Backend:
    """Instantiate the backend called ``name`` (``"darts"`` or ``"neuralforecast"``).

    Raises
    ------
    ValueError
        Unknown name.
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}.")
    module, cls = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), cls)()


__all__ = ["BACKENDS", "get_backend"]
