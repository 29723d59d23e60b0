"""Served latency: what forecasting costs a user, per call, for one window and for a batch.

The students are exported with :func:`~tsdistill_plugin.export.to_onnx` and run by
:class:`~tsdistill_plugin.export.Predictor` (ONNX Runtime on the CPU), the artefact that ships;
beside them, every model runs through its library's own ``predict``
(:mod:`.backends.library_predict`), its input built beforehand. The calls take turns
(:func:`.timing.interleaved_ms`).
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch

from .backends.base import Fitted
from .timing import interleaved_ms

if TYPE_CHECKING:  # ONNX Runtime: loaded when exporting
    from tsdistill_plugin.export import Predictor

BUDGET_SECONDS = 2.0
"""Timing of one batch size stops after the round that passes this many seconds (a library's
``predict`` costs tens of milliseconds a call; at least 3 rounds are timed)."""


@dataclass(frozen=True)
class ServedLatency:
    """Median wall time in ms of one call forecasting one window, and a batch of windows."""

    one: float
    batch: float


def export_students(students: dict[str, Fitted], threads: int | None) -> dict[str, Predictor]:
    """Each fitted student exported with ``to_onnx`` and loaded in a ``Predictor`` (CPU).

    Parameters
    ----------
    students
        Fitted students by row key.
    threads
        ONNX Runtime intra-op threads (``None``: its default, all cores).

    Returns
    -------
    dict
        A :class:`~tsdistill_plugin.export.Predictor` per key.
    """
    from tsdistill_plugin.export import Predictor, to_onnx

    with tempfile.TemporaryDirectory() as folder:  # the session holds the graph once loaded
        return {
            key: Predictor.load(
                to_onnx(fitted.model, Path(folder) / f"{key}.onnx"), threads=threads, device="cpu"
            )
            for key, fitted in students.items()
        }


class Served(NamedTuple):
    """Served latencies by row key: the library's ``predict`` and ``Predictor.predict``."""

    predict: dict[str, ServedLatency]
    onnx: dict[str, ServedLatency]


def served_latency(
    models: dict[str, Fitted],
    predictors: dict[str, Predictor],
    windows: np.ndarray,
    covariates: dict[str, np.ndarray],
    runs: int,
    device: torch.device,
) -> Served:
    """Time every model's library ``predict`` and every ``Predictor`` on the same windows.

    Parameters
    ----------
    models
        Fitted models by row key; those without ``library_predict`` are not timed.
    predictors
        Exported students by row key (:func:`export_students`).
    windows
        ``[batch, lookback, channels]``: the first alone, then all of them, per call.
    covariates
        The windows' covariates by name (empty: none), each model given those it reads
        (:attr:`~.backends.base.Fitted.covariates`; an exported student, its fitted model's).
    runs
        The most timed rounds per batch size (see :data:`BUDGET_SECONDS`); one untimed round
        before them.
    device
        Where the libraries' models run.
    """
    figures: dict[int, dict[tuple[str, str], float]] = {}
    for size in (1, len(windows)):
        part = windows[:size]

        def read(key: str, size: int = size) -> dict[str, np.ndarray]:
            return {name: covariates[name][:size] for name in models[key].covariates}

        calls: dict[tuple[str, str], Callable[[], object]] = {
            ("predict", key): fitted.library_predict(part, **read(key))
            for key, fitted in models.items()
            if fitted.library_predict is not None
        }
        for key, predictor in predictors.items():
            calls["onnx", key] = functools.partial(predictor.predict, part, **read(key))
        figures[size] = interleaved_ms(calls, runs, 1, device, BUDGET_SECONDS)
    one, batch = figures[1], figures[len(windows)]
    served = Served({}, {})
    for way, key in one:
        getattr(served, way)[key] = ServedLatency(one[way, key], batch[way, key])
    return served
