"""What the exporter reads from a fitted student of each library: one function per library.

These are the only places that know where the integrations keep the student (Darts:
``model.model.student``; NeuralForecast: ``model.dmlp`` and its ``TemporalNorm`` at
``model.scaler``) and their training provenance (``training_provenance``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..core.student import DMLP
from .scaling import InputScaler


@dataclass(frozen=True)
class ExportSource:
    """A fitted student, ready to fold and describe.

    Attributes
    ----------
    student
        The ``DMLP``.
    scaler
        NeuralForecast's scaler around it (``None`` for Darts and ``scaler_type="identity"``).
    components
        Channel names (for channel-independent students, the training series).
    channel_independent
        Whether each channel is forecast on its own (NeuralForecast's ``DistilledMLP``).
    freq
        pandas frequency of the training data, if known.
    name
        The forecast's name (NeuralForecast's alias).
    library
        ``"darts"`` or ``"neuralforecast"``.
    provenance
        ``{"teacher": ..., "data_digest": ...}`` recorded at fit, or empty.
    quantiles
        A probabilistic student's levels, increasing, or ``None``.
    level_major
        How its head lays the ``H Q`` values out: ``Q`` blocks of ``H`` steps
        (NeuralForecast's multi-quantile losses), else ``H`` blocks of ``Q`` levels (Darts).
    covariate_names
        The names of the covariates the student reads, by ``StudentSpec`` field
        (``"past_covariates"``, ...), only the kinds it reads.
    """

    student: DMLP
    scaler: InputScaler | None
    components: tuple[str, ...]
    channel_independent: bool
    freq: str | None
    name: str
    library: str
    provenance: dict
    quantiles: tuple[float, ...] | None = None
    level_major: bool = False
    covariate_names: dict[str, tuple[str, ...]] = field(default_factory=dict)


def darts_source(model: object) -> ExportSource:
    """A fitted ``tsdistill_plugin.darts.DistilledMLPModel``."""
    module = getattr(model, "model", None)
    if module is None or not hasattr(module, "student"):
        raise ValueError(
            f"{type(model).__name__} is not fitted (it has no trained student yet); call "
            "model.fit(series) before exporting."
        )
    if getattr(module, "rin", None) is not None:
        raise ValueError(
            "the model was built with use_reversible_instance_norm=True, which the exporter "
            "does not fold; use the student's own norm='revin' instead."
        )
    provenance = dict(model.training_provenance or {})
    series = getattr(model, "training_series", None)
    n_channels = module.student.n_channels
    components = provenance.get("components") or (
        list(series.components) if series is not None else [str(i) for i in range(n_channels)]
    )
    freq = provenance.get("freq") or (series.freq_str if series is not None else None)
    names = {}
    for kind, size in zip(
        ("past", "future", "static"), module.student.covariate_sizes, strict=True
    ):
        recorded = tuple(provenance.get(f"{kind}_covariates", ()))
        if len(recorded) != size:
            raise ValueError(
                f"the student reads {size} {kind} covariates but was fitted with "
                f"{len(recorded)} named ones {list(recorded)}: the others are Darts' encodings "
                "(add_encoders), which the exported graph cannot compute; fit the student "
                "without add_encoders, passing the encodings as covariates, to export it."
            )
        if size:
            names[f"{kind}_covariates"] = recorded
    return ExportSource(
        student=module.student,
        scaler=None,
        components=tuple(map(str, components)),
        channel_independent=False,
        freq=None if freq is None else str(freq),
        name=type(model).__name__,
        library="darts",
        provenance=provenance,
        quantiles=module.student.quantiles,
        covariate_names=names,
    )


def neuralforecast_source(model: object, name: str | None = None) -> ExportSource:
    """Read a fitted NeuralForecast student, or a fitted ``NeuralForecast`` holding one.

    The student is a ``DistilledMLP`` or ``DistilledMLPMultivariate``. From a ``NeuralForecast``
    the series ids and frequency come too; ``name`` picks the student by alias when it holds
    several.
    """
    forecaster = model if hasattr(model, "models") and hasattr(model, "freq") else None
    if forecaster is not None:
        model = _pick_student(forecaster, name)
        if forecaster.local_scaler_type is not None:
            raise ValueError(
                f"NeuralForecast(local_scaler_type={forecaster.local_scaler_type!r}) scales "
                "the data outside the model, which the exporter does not include; export a "
                "model trained with the model's own scaler_type instead."
            )
    student = getattr(model, "dmlp", None)
    if not isinstance(student, DMLP):
        raise TypeError(
            f"expected a NeuralForecast DistilledMLP or DistilledMLPMultivariate (or a "
            f"NeuralForecast holding one), got {type(model).__name__}."
        )
    from ..neuralforecast.teacher import loss_levels  # NeuralForecast is loaded here

    loss = model.loss
    levels = loss_levels(loss)
    if (loss.outputsize_multiplier != 1 and levels is None) or loss.is_distribution_output:
        raise ValueError(
            f"the student was trained with {type(loss).__name__}, which forecasts a "
            "distribution's parameters; only point losses (MSE, MAE, ...) and multi-quantile "
            "losses (MQLoss, HuberMQLoss) can be exported."
        )
    uids = [] if forecaster is None else [str(u) for u in getattr(forecaster, "uids", [])]
    multivariate = bool(model.MULTIVARIATE)
    if multivariate and len(uids) != student.n_channels:
        uids = [str(i) for i in range(student.n_channels)]
    freq = None if forecaster is None else forecaster.freq
    scaler_type = model.hparams.get("scaler_type", "identity")
    return ExportSource(
        student=student,
        scaler=_nf_scaler(model.scaler, scaler_type),
        components=tuple(uids),
        channel_independent=not multivariate,
        freq=None if freq is None else str(freq),
        name=repr(model),
        library="neuralforecast",
        provenance=dict(model.training_provenance or {}),
        quantiles=levels,
        level_major=True,
        covariate_names=_exogenous_names(model, scaler_type, uids),
    )


def _exogenous_names(
    model: object, scaler_type: str | None, uids: list[str]
) -> dict[str, tuple[str, ...]]:
    """A NeuralForecast student's exogenous lists as the graph's covariates.

    Each series' past ``hist_exog_list`` ``[batch, L, X]``, ``futr_exog_list`` over its
    lookback and horizon, and ``stat_exog_list`` ``[batch, S]``, as for a Darts student. The
    multivariate student reads every series' exogenous values in one row: its graph columns
    are named ``"<column>[<series>]"``, column by column (past and future ``[batch, time,
    X N]``) and series by series (static ``[batch, N S]``), as it flattens them.

    Raises
    ------
    ValueError
        For exogenous variables under ``scaler_type="revin"`` (NeuralForecast pairs its
        learnt per-column parameters with the exogenous columns in the order of a Python
        set, which changes between processes).
    """
    lists = {
        "past_covariates": model.hist_exog_list,
        "future_covariates": model.futr_exog_list,
        "static_covariates": model.stat_exog_list,
    }
    names = {kind: tuple(map(str, columns)) for kind, columns in lists.items() if columns}
    if scaler_type == "revin" and (model.hist_exog_list or model.futr_exog_list):
        raise ValueError(
            "the student scales its exogenous variables with scaler_type='revin', whose learnt "
            "parameters NeuralForecast pairs with the exogenous columns in an order that "
            "changes from one Python process to the next; train it with another scaler_type "
            "(e.g. 'standard') to export it."
        )
    if not model.MULTIVARIATE:
        return names
    per_series = {}
    for kind, columns in names.items():
        if kind == "static_covariates":  # [N, S] flattened: series by series
            pairs = [(column, uid) for uid in uids for column in columns]
        else:  # [time, X, N] flattened: column by column
            pairs = [(column, uid) for column in columns for uid in uids]
        per_series[kind] = tuple(f"{column}[{uid}]" for column, uid in pairs)
    return per_series


def _pick_student(forecaster: object, name: str | None) -> object:
    students = [m for m in forecaster.models if isinstance(getattr(m, "dmlp", None), DMLP)]
    if name is not None:
        students = [m for m in students if repr(m) == name]
    if len(students) != 1:
        names = [repr(m) for m in forecaster.models]
        raise ValueError(
            f"expected one distilled student among the NeuralForecast models {names}"
            + ("" if name is None else f" named {name!r}")
            + f", found {len(students)}; pass the model itself or its alias as name."
        )
    return students[0]


def _nf_scaler(scaler: torch.nn.Module, scaler_type: str | None) -> InputScaler | None:
    """NeuralForecast's ``TemporalNorm`` as an :class:`InputScaler` (``None``: no scaling)."""
    from ..neuralforecast._compat import SCALER_STATISTICS  # NeuralForecast is loaded here

    kind = scaler_type or "identity"
    if kind not in SCALER_STATISTICS:
        raise ValueError(
            f"scaler_type {kind!r} is not exportable; use one of {list(SCALER_STATISTICS)}."
        )
    statistics = SCALER_STATISTICS[kind]
    if statistics is None:
        return None
    if kind != "revin":
        return InputScaler(**statistics, eps=scaler.eps)
    with torch.no_grad():  # the target's entry of [1, 1, features, 1]
        shift = float(scaler.revin_bias.reshape(-1)[0])
        factor = float(torch.relu(scaler.revin_weight.reshape(-1)[0]) + scaler.eps)
    return InputScaler(**statistics, eps=scaler.eps, output_shift=shift, output_factor=factor)
