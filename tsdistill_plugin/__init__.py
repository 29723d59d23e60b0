"""tsdistill_plugin: TimeDistill knowledge distillation for Darts and NeuralForecast.

``tsdistill_plugin.core`` is plain PyTorch. The integrations live in
``tsdistill_plugin.darts`` and ``tsdistill_plugin.neuralforecast`` and import their library only
when imported themselves. Importing this package imports nothing heavy: ``as_teacher`` (torch) is
loaded on first use, so that ``tsdistill_plugin.export.Predictor`` runs without torch.
"""

from __future__ import annotations

from typing import Any

from ._version import __version__

__all__ = ["__version__", "as_teacher"]


def __getattr__(name: str) -> Any:
    if name == "as_teacher":
        from .teachers import as_teacher

        return as_teacher
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
