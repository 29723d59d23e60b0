"""The reference's settings as tables: training plans, teacher architectures, alpha/beta.

Values come from the TimeDistill reference implementation (github.com/LingFengGold/TimeDistill
@ 7f2e7d0) as summarized in ``docs/method.md`` sections 3 and 5; where the reference gives no
value (teachers other than iTransformer, data sets outside its eight, DLinear), the choice is ours
and says so. Architectures are written in library-neutral terms (``width``, ``layers``, ...);
each backend maps them to its library's constructor arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class TrainingPlan:
    """How a model is trained.

    Attributes
    ----------
    lr
        Adam learning rate.
    epochs
        Maximum number of epochs.
    batch_size
        Windows per batch (each window holds every channel).
    patience
        Epochs without a lower validation MSE before stopping; the best epoch's weights are
        restored.
    halving
        Halve the learning rate after every epoch from the second on (``lradj="type1"``).
    """

    lr: float
    epochs: int
    batch_size: int = 32
    patience: int = 5
    halving: bool = True

    def capped(self, epochs: int | None) -> TrainingPlan:
        """The plan with at most ``epochs`` epochs (unchanged for ``None``)."""
        return self if epochs is None else replace(self, epochs=min(self.epochs, epochs))


@dataclass(frozen=True)
class StudentSettings:
    """Per-data-set settings of the student in the reference's distillation scripts.

    Attributes
    ----------
    alpha, beta
        Prediction- and feature-level weights with an iTransformer teacher
        (``run_scripts/train_student_iTransformer.sh``).
    epochs, batch_size
        Maximum epochs and batch size.
    hidden_size
        Student width ``d``.
    norm
        ``"mean"`` (the reference's "non-stationary") or ``"revin"``.
    """

    alpha: float = 1.0
    beta: float = 1.0
    epochs: int = 100
    batch_size: int = 32
    hidden_size: int = 512
    norm: str = "mean"


STUDENT_LR = 0.01
"""Adam learning rate of the student (and of the feature regressor trained with it)."""

STUDENT_SETTINGS: dict[str, StudentSettings] = {
    "electricity": StudentSettings(alpha=0.1, beta=0.5, epochs=30),
    "ETTh1": StudentSettings(alpha=2.0, beta=2.0),
    "ETTh2": StudentSettings(alpha=1.0, beta=0.5),
    "ETTm1": StudentSettings(alpha=1.0, beta=1.0),
    "ETTm2": StudentSettings(alpha=1.0, beta=0.1),
    "solar": StudentSettings(alpha=0.1, beta=1.0, epochs=30),
    "traffic": StudentSettings(
        alpha=0.5, beta=0.5, epochs=10, batch_size=8, hidden_size=1024, norm="revin"
    ),
    "weather": StudentSettings(alpha=0.1, beta=0.1),
}
"""The reference's per-data-set student settings; other data sets get ``StudentSettings()``
(alpha = beta = 1 as the reference's generic ``train_student.sh``)."""

AUTO = "auto"
"""``--alpha``/``--beta`` value asking for the weight to be chosen on the validation split."""

DEFAULT_WEIGHTS: dict[str, tuple[float | str, float | str]] = {"co2": (AUTO, AUTO)}
"""Data sets whose default distillation weights are not the reference's: the built-in demo
series chooses them on its validation split (on CO2 the plain MLP is already close to the best
teachers, and the reference's generic alpha = beta = 1 made the student worse)."""

DEFAULT_TEACHER = "itransformer"
"""The reference's main teacher."""

DEFAULT_TEACHERS: dict[str, str] = {"co2": "tide"}
"""Data sets whose default teacher is another: on the built-in demo series the iTransformer was
worse than the plain MLP, TiDE better (``docs/results.md``)."""


def default_teacher(dataset: str) -> str:
    """The teacher ``tsdistill benchmark`` uses for ``dataset`` when none is given."""
    return DEFAULT_TEACHERS.get(str(dataset).lower(), DEFAULT_TEACHER)


def student_settings(dataset: str) -> StudentSettings:
    """The reference's student settings for ``dataset`` (defaults for data sets it lacks)."""
    return STUDENT_SETTINGS.get(dataset, StudentSettings())


def default_weights(dataset: str) -> tuple[float | str, float | str]:
    """The ``(alpha, beta)`` that ``tsdistill benchmark`` uses for ``dataset`` when none is given.

    They are the reference's values, or ``"auto"`` (see :data:`DEFAULT_WEIGHTS`).
    """
    settings = student_settings(dataset)
    return DEFAULT_WEIGHTS.get(str(dataset).lower(), (settings.alpha, settings.beta))


DLINEAR_LR = 0.005
"""DLinear's learning rate (our choice, the DLinear authors' ETT setting); the rest of its plan
is the student's, so the light baseline gets the same budget."""


@dataclass(frozen=True)
class TeacherConfig:
    """A teacher architecture and how it is trained, in library-neutral terms.

    Attributes
    ----------
    name
        Command-line name.
    plan
        Training plan, or ``None`` for a foundation model used zero-shot (nothing is trained).
    arch
        Neutral architecture values (``width``, ``ff_width``, ``layers``, ``heads``,
        ``dropout``, ``patch``, ``stride``) that each backend maps to its constructor; for a
        foundation model, ``{"model": <Darts class name>}``.
    by_dataset
        Overrides of ``arch`` and of the plan's ``lr``/``batch_size`` per data set.
    """

    name: str
    plan: TrainingPlan | None
    arch: dict[str, Any]
    by_dataset: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def zero_shot(self) -> bool:
        """Whether this is a pre-trained foundation model that is not trained here."""
        return self.plan is None

    def for_dataset(self, dataset: str) -> TeacherConfig:
        """Apply ``dataset``'s overrides to this configuration."""
        if self.plan is None:
            return self
        overrides = dict(self.by_dataset.get(dataset, {}))
        plan_keys = {"lr", "batch_size"}
        plan = replace(self.plan, **{k: overrides.pop(k) for k in plan_keys & set(overrides)})
        return replace(self, plan=plan, arch={**self.arch, **overrides}, by_dataset={})


def _itransformer_size(layers: int, width: int, **plan: Any) -> dict[str, Any]:
    return {"layers": layers, "width": width, "ff_width": width, **plan}


TEACHERS: dict[str, TeacherConfig] = {
    config.name: config
    for config in (
        # The reference's iTransformer: run.py defaults (Adam lr 1e-4, 10 epochs, batch 32,
        # patience 5, type1, dropout 0.1, 8 heads) and config.json's sizes per data set; data
        # sets outside config.json get its most common size (2 layers of width 128).
        TeacherConfig(
            "itransformer",
            TrainingPlan(lr=1e-4, epochs=10),
            {"layers": 2, "width": 128, "ff_width": 128, "heads": 8, "dropout": 0.1},
            by_dataset={
                "ETTh1": _itransformer_size(2, 256),
                "ETTh2": _itransformer_size(2, 128),
                "ETTm1": _itransformer_size(2, 128),
                "ETTm2": _itransformer_size(2, 128),
                "electricity": _itransformer_size(3, 512, lr=5e-4, batch_size=16),
                "weather": _itransformer_size(3, 512),
                "traffic": _itransformer_size(4, 512, lr=1e-3, batch_size=16),
                "solar": _itransformer_size(2, 512, lr=5e-4),
            },
        ),
        # The other teachers have no per-data-set configuration in the reference; these are
        # their papers' / libraries' usual sizes with the reference's teacher schedule.
        TeacherConfig(
            "patchtst",
            TrainingPlan(lr=1e-4, epochs=10),
            {
                "layers": 3,
                "width": 128,
                "ff_width": 256,
                "heads": 16,
                "dropout": 0.2,
                "patch": 16,
                "stride": 8,
            },
        ),
        TeacherConfig(
            "tide",
            TrainingPlan(lr=1e-3, epochs=10),
            {"layers": 1, "width": 256, "dropout": 0.3},
        ),
        TeacherConfig(
            "tsmixer",
            TrainingPlan(lr=1e-3, epochs=10),
            {"layers": 2, "width": 64, "ff_width": 64, "dropout": 0.1},
        ),
        TeacherConfig(
            "nhits",
            TrainingPlan(lr=1e-3, epochs=10),
            {"layers": 2, "width": 512, "dropout": 0.0},
        ),
    )
}


FOUNDATION_TEACHERS: dict[str, TeacherConfig] = {
    config.name: config
    for config in (
        TeacherConfig("chronos2", None, {"model": "Chronos2Model"}),
        TeacherConfig("timesfm2p5", None, {"model": "TimesFM2p5Model"}),
        TeacherConfig("timesfm3", None, {"model": "TimesFM3Model", "license": True}),
        TeacherConfig("tirex", None, {"model": "TiRexModel", "license": True}),
        TeacherConfig("tirex2", None, {"model": "TiRex2Model"}),
        TeacherConfig("patchtst_fm", None, {"model": "PatchTSTFMModel"}),
        TeacherConfig("t0", None, {"model": "T0Model"}),
    )
}
"""Darts 0.48's foundation models, used zero-shot: their weights come from the model hub (or
``--teacher-dir``); nothing is trained, "fitting" one only sets it up on the training split.
``license``: the model asks its users to accept its license (``--accept-license``)."""

ALL_TEACHERS: dict[str, TeacherConfig] = {**TEACHERS, **FOUNDATION_TEACHERS}
"""Every teacher ``--teacher`` accepts, by command-line name."""


def teacher_config(name: str, dataset: str) -> TeacherConfig:
    """The configuration of teacher ``name`` for ``dataset``.

    Raises
    ------
    ValueError
        Unknown teacher name.
    """
    key = name.lower()
    if key not in ALL_TEACHERS:
        raise ValueError(
            f"unknown teacher {name!r}; choose one of {', '.join(ALL_TEACHERS)} (--teacher)."
        )
    return ALL_TEACHERS[key].for_dataset(dataset)


def itransformer_arguments(arch: dict[str, Any]) -> dict[str, Any]:
    """NeuralForecast ``iTransformer`` arguments for a neutral architecture.

    Both backends run NeuralForecast's iTransformer; Darts through its ``NeuralForecastModel``.
    """
    return {
        "hidden_size": arch["width"],
        "d_ff": arch["ff_width"],
        "e_layers": arch["layers"],
        "n_heads": arch["heads"],
        "dropout": arch["dropout"],
        "use_norm": True,
    }


def patchtst_arguments(arch: dict[str, Any]) -> dict[str, Any]:
    """NeuralForecast ``PatchTST`` arguments for a neutral architecture (see above)."""
    return {
        "encoder_layers": arch["layers"],
        "hidden_size": arch["width"],
        "linear_hidden_size": arch["ff_width"],
        "n_heads": arch["heads"],
        "dropout": arch["dropout"],
        "patch_len": arch["patch"],
        "stride": arch["stride"],
        "revin": True,
    }
