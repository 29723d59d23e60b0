"""What importing ``tsdistill_plugin.neuralforecast`` tells NeuralForecast about the students.

- ``neuralforecast.core.MODEL_FILENAME_DICT`` gets the students, so that ``NeuralForecast.save``
  and ``NeuralForecast.load`` find them (NF looks models up there by lower-cased class name).
- ``NeuralForecast.fit`` and ``cross_validation`` first check that a pandas ``df`` has the id,
  time and target columns when one of the models is a student, so a missing column is a
  ``ValueError`` naming it rather than a bare ``KeyError`` from deep inside NeuralForecast.
  Other models are unaffected.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import pandas as pd
from neuralforecast import core

from .models import DistilledMLP, DistilledMLPMultivariate, _DistilledBase

STUDENTS = (DistilledMLP, DistilledMLPMultivariate)
CHECKED_METHODS = ("fit", "cross_validation")


def _with_column_check(method: Any) -> Any:
    signature = inspect.signature(method)

    @functools.wraps(method)
    def checked(self: core.NeuralForecast, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        df = bound.arguments.get("df")
        if isinstance(df, pd.DataFrame) and any(
            isinstance(model, _DistilledBase) for model in self.models
        ):
            names = [bound.arguments[k] for k in ("id_col", "time_col", "target_col")]
            missing = [c for c in names if c not in df.columns]
            if missing:
                raise ValueError(
                    f"df is missing the column(s) {missing}; NeuralForecast's long format needs "
                    f"{names[0]!r} (series id), {names[1]!r} (time) and {names[2]!r} (target). "
                    "Rename your columns or pass id_col / time_col / target_col."
                )
        return method(self, *args, **kwargs)

    checked._tsdistill_checked = True
    return checked


def register() -> None:
    """Register the students with NeuralForecast (idempotent)."""
    for model in STUDENTS:
        core.MODEL_FILENAME_DICT[model.__name__.lower()] = model
    for name in CHECKED_METHODS:
        method = getattr(core.NeuralForecast, name)
        if not getattr(method, "_tsdistill_checked", False):
            setattr(core.NeuralForecast, name, _with_column_check(method))
