"""Distillation weights chosen on the validation split: ``--alpha auto`` / ``--beta auto``.

The candidates are a small grid of ``(alpha, beta)`` pairs (:func:`candidates`) that always
holds ``(0, 0)``, the student without distillation (the plain MLP, fitted anyway), and the
reference's values. Every other candidate is a distilled student fitted on the training split
like any other, and each is scored by its MSE over every validation window; the lowest wins, the
earliest on a tie (:func:`search`). The test split is never looked at, and the chosen student is
never worse on validation than the plain MLP. The candidates share one teacher object, so the
library computes the teacher's outputs for the training windows once, for the first of them,
and reuses them for the others (it keeps the last training run's teacher outputs for the next
run with the same teacher and data).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from .backends.base import Fitted
from .backends.reference import AUTO

logger = logging.getLogger(__name__)

GRID: tuple[float, ...] = (0.0, 0.1, 0.5, 1.0)
"""Values an ``auto`` weight takes (with the reference's value for the data set). Both weights
``auto`` take them together (``alpha = beta``): a grid of a few pairs keeps the search to a few
student fits."""

Pair = tuple[float, float]


@dataclass(frozen=True)
class Candidate:
    """One ``(alpha, beta)`` pair of the search and how its student did.

    Attributes
    ----------
    alpha, beta
        The weights.
    val_mse
        The student's MSE over every validation window and channel (standardized scale).
    train_seconds
        Wall time of its fit, including ``cache_seconds``.
    cache_seconds
        Time spent computing teacher outputs during its fit (0 when it reused the outputs of
        an earlier candidate, or does not distil).
    epochs
        Epochs run.
    """

    alpha: float
    beta: float
    val_mse: float
    train_seconds: float
    cache_seconds: float
    epochs: int | None

    @property
    def distils(self) -> bool:
        """Whether the student learns from the teacher (a weight is positive)."""
        return self.alpha > 0 or self.beta > 0


def candidates(alpha: float | str, beta: float | str, reference: Pair) -> list[Pair]:
    """The ``(alpha, beta)`` pairs to try, ``(0, 0)`` first, without repeats.

    Parameters
    ----------
    alpha, beta
        The requested weights: a number, or ``"auto"``.
    reference
        The reference's ``(alpha, beta)`` for the data set, tried among the auto values.

    Returns
    -------
    list[tuple[float, float]]
        With both weights ``auto``: ``(v, v)`` for ``v`` in :data:`GRID`, and ``reference``;
        with one: that weight over :data:`GRID` and its reference value, the other as given,
        after ``(0, 0)``; with none: the given pair alone.
    """
    if alpha != AUTO and beta != AUTO:
        return [(float(alpha), float(beta))]
    if alpha == AUTO and beta == AUTO:
        pairs = [(v, v) for v in GRID] + [reference]
    elif alpha == AUTO:
        pairs = [(v, float(beta)) for v in (*GRID, reference[0])]
    else:
        pairs = [(float(alpha), v) for v in (*GRID, reference[1])]
    return list(dict.fromkeys([(0.0, 0.0), *pairs]))


class Search(NamedTuple):
    """The outcome of :func:`search`.

    Attributes
    ----------
    student
        The chosen student.
    chosen
        Its candidate.
    candidates
        Every candidate, in the order tried.
    """

    student: Fitted
    chosen: Candidate
    candidates: list[Candidate]


def search(
    pairs: list[Pair],
    plain: Fitted,
    fit: Callable[[float, float], Fitted],
    validation_mse: Callable[[Fitted], float],
) -> Search:
    """Fit a student per pair, score each on the validation split, keep the best.

    Parameters
    ----------
    pairs
        The candidates (:func:`candidates`).
    plain
        The student fitted without distillation: the ``(0, 0)`` candidate, not refitted.
    fit
        Fits the distilled student with weights ``(alpha, beta)``; its ``cache_seconds`` is the
        time its fit spent computing teacher outputs.
    validation_mse
        A fitted student's MSE over every validation window.

    Returns
    -------
    Search
        The chosen student, its candidate and every candidate.
    """
    fitted: list[Fitted] = []
    tried: list[Candidate] = []
    for alpha, beta in pairs:
        student = plain if alpha == beta == 0 else fit(alpha, beta)
        candidate = Candidate(
            alpha,
            beta,
            validation_mse(student),
            student.train_seconds,
            student.cache_seconds or 0.0,
            student.epochs,
        )
        logger.info("alpha %g, beta %g: validation MSE %.5f", alpha, beta, candidate.val_mse)
        fitted.append(student)
        tried.append(candidate)
    best = min(range(len(tried)), key=lambda i: tried[i].val_mse)  # the earliest of equals
    return Search(fitted[best], tried[best], tried)
