"""Distillation weights chosen on the validation split: ``--alpha auto`` / ``--beta auto``.

The candidates (:func:`candidates`) are a small grid of ``(alpha, beta)`` pairs trained as the
reference trains its student, which always holds ``(0, 0)``, the student without distillation
(the plain MLP, fitted anyway), and the reference's values; and, with both weights ``auto``,
the :data:`IMITATION` recipe at :data:`IMITATION_ALPHAS`. Every other candidate is a student
fitted on the training split like any other, and each is scored by its MSE over every
validation window (its mean quantile loss in a quantile run, ``--quantiles``); the lowest wins,
the earliest on a tie (:func:`search`). The test split is
never looked at, and the chosen student is never worse on validation than the plain MLP. The
candidates share one teacher object, so the library computes the teacher's outputs for the
training windows once, for the first of them, and reuses them for the others (it keeps the
last training run's teacher outputs for the next run with the same teacher and data).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NamedTuple

from .backends.base import Fitted, StudentSetup
from .backends.reference import AUTO, TrainingPlan

logger = logging.getLogger(__name__)

GRID: tuple[float, ...] = (0.0, 0.1, 1.0)
"""Values an ``auto`` weight takes (with the reference's value for the data set). Both weights
``auto`` take them together (``alpha = beta``): a grid of a few pairs keeps the search to a few
student fits."""

IMITATION = "imitation"
"""The recipe that transfers a strong teacher (``docs/teachers.md``, CO2 with TiDE): the
multi-scale term without pooling (``scale_levels=0``: the plain MSE to the teacher's
forecasts), no period term (``period_weight=0``), trained by :data:`IMITATION_PLAN`. The
reference's own plan stops the student after a few epochs of a halving learning rate, before
the teacher can teach it."""

IMITATION_PLAN = TrainingPlan(lr=1e-3, epochs=60, patience=20, halving=False)
"""The :data:`IMITATION` recipe's plan: Adam at 1e-3 without halving for at most 60 epochs,
stopped after 20 without a better validation MSE, the best epoch kept."""

IMITATION_ALPHAS: tuple[float, ...] = (4.0,)
"""Teacher weights of the :data:`IMITATION` candidates (``beta = 0``): 4, chosen on CO2's
validation split among 1 and 4 (``docs/teachers.md``). Each candidate is a fit of up to 60
epochs, so the grid is kept to one. (The plain student trained by the recipe's plan is not a
candidate: on the small ILI validation split it was chosen by a hair and ended well above the
plain MLP on test, ``docs/teachers.md``.)"""

REFERENCE = "reference"
"""The recipe of a candidate trained as the reference trains its student (the other recipe is
:data:`IMITATION`)."""


class Setting(NamedTuple):
    """One candidate of the search: its weights and its recipe."""

    alpha: float
    beta: float
    recipe: str = REFERENCE

    def student(self, spec: StudentSetup, epochs: int | None = None) -> StudentSetup:
        """``spec`` with this setting's weights, objective and plan (capped at ``epochs``)."""
        if self.recipe == IMITATION:
            return replace(
                spec,
                alpha=self.alpha,
                beta=self.beta,
                scale_levels=0,
                period_weight=0.0,
                plan=IMITATION_PLAN.capped(epochs),
            )
        return replace(spec, alpha=self.alpha, beta=self.beta)

    @property
    def label(self) -> str:
        """How the progress lines and the report name it: ``alpha 4, beta 0, imitation``."""
        recipe = "" if self.recipe == REFERENCE else f", {self.recipe}"
        return f"alpha {self.alpha:g}, beta {self.beta:g}{recipe}"

    def __str__(self) -> str:
        recipe = "" if self.recipe == REFERENCE else f", {self.recipe}"
        return f"({self.alpha:g}, {self.beta:g}{recipe})"


@dataclass(frozen=True)
class Candidate:
    """One ``(alpha, beta)`` pair of the search and how its student did.

    Attributes
    ----------
    alpha, beta
        The weights.
    recipe
        How it was trained (:data:`REFERENCE` or :data:`IMITATION`).
    val_loss
        What the search minimises over every validation window and channel (standardized
        scale): the student's MSE, or its mean quantile loss in a quantile run.
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
    recipe: str
    val_loss: float
    train_seconds: float
    cache_seconds: float
    epochs: int | None

    @property
    def setting(self) -> Setting:
        """Its weights and recipe."""
        return Setting(self.alpha, self.beta, self.recipe)

    @property
    def distils(self) -> bool:
        """Whether the student learns from the teacher (a weight is positive)."""
        return self.alpha > 0 or self.beta > 0


def measure(quantiles: tuple[float, ...] | None) -> str:
    """What :func:`search` compares on validation, by the run's quantile levels.

    The MSE, or the mean quantile loss of a quantile run.
    """
    return "MSE" if quantiles is None else "mean quantile loss"


def candidates(
    alpha: float | str, beta: float | str, reference: tuple[float, float]
) -> list[Setting]:
    """The settings to try, the plain student ``(0, 0)`` first, without repeats.

    Parameters
    ----------
    alpha, beta
        The requested weights: a number, or ``"auto"``.
    reference
        The reference's ``(alpha, beta)`` for the data set, tried among the auto values.

    Returns
    -------
    list[Setting]
        With both weights ``auto``: ``(v, v)`` for ``v`` in :data:`GRID` and ``reference``,
        then ``(a, 0)`` by the :data:`IMITATION` recipe for ``a`` in :data:`IMITATION_ALPHAS`;
        with one: that weight over :data:`GRID` and its reference value, the other as given,
        after ``(0, 0)``; with none: the given pair alone.

    Examples
    --------
    >>> from tsdistill_plugin.benchmark.weights import candidates
    >>> [str(s) for s in candidates("auto", "auto", (1.0, 1.0))]
    ['(0, 0)', '(0.1, 0.1)', '(1, 1)', '(4, 0, imitation)']
    """
    if alpha != AUTO and beta != AUTO:
        return [Setting(float(alpha), float(beta))]
    if alpha == AUTO and beta == AUTO:
        pairs = [(v, v) for v in GRID] + [reference]
        imitation = [Setting(a, 0.0, IMITATION) for a in IMITATION_ALPHAS]
    elif alpha == AUTO:
        pairs, imitation = [(v, float(beta)) for v in (*GRID, reference[0])], []
    else:
        pairs, imitation = [(float(alpha), v) for v in (*GRID, reference[1])], []
    settings = [Setting(0.0, 0.0), *(Setting(*pair) for pair in pairs), *imitation]
    return list(dict.fromkeys(settings))


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
    settings: list[Setting],
    plain: Fitted,
    fit: Callable[[Setting], Fitted],
    validation_loss: Callable[[Fitted], float],
) -> Search:
    """Fit a student per setting, score each on the validation split, keep the best.

    Parameters
    ----------
    settings
        The candidates (:func:`candidates`).
    plain
        The student fitted without distillation by the reference's plan: the ``(0, 0)``
        candidate, not refitted.
    fit
        Fits the student of a setting; its ``cache_seconds`` is the time its fit spent
        computing teacher outputs.
    validation_loss
        A fitted student's loss over every validation window (:attr:`Candidate.val_loss`).

    Returns
    -------
    Search
        The chosen student, its candidate and every candidate.
    """
    fitted: list[Fitted] = []
    tried: list[Candidate] = []
    for setting in settings:
        student = plain if setting == Setting(0.0, 0.0) else fit(setting)
        candidate = Candidate(
            *setting,
            validation_loss(student),
            student.train_seconds,
            student.cache_seconds or 0.0,
            student.epochs,
        )
        logger.info("%s: validation loss %.5f", setting, candidate.val_loss)
        fitted.append(student)
        tried.append(candidate)
    best = min(range(len(tried)), key=lambda i: tried[i].val_loss)  # the earliest of equals
    return Search(fitted[best], tried[best], tried)
