"""Serving: export a fitted student to ONNX and run it without the training stack.

- :func:`to_onnx` (torch; imported on first use): a fitted Darts ``DistilledMLPModel`` or
  NeuralForecast ``DistilledMLP`` / ``DistilledMLPMultivariate`` as an ONNX graph of two
  matrix products, with its metadata inside.
- :class:`Predictor` (ONNX Runtime, NumPy and pandas only): loads such a file and forecasts
  from NumPy windows or pandas frames.

Both need the ``export`` extra (``pip install 'tsdistill-plugin[export]'``).
"""

from __future__ import annotations

from typing import Any

from .metadata import StudentSpec
from .predictor import Predictor

__all__ = ["Predictor", "StudentSpec", "to_onnx"]


def __getattr__(name: str) -> Any:
    if name == "to_onnx":  # torch: loaded only when exporting
        from .exporter import to_onnx

        return to_onnx
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
