"""``as_teacher``: turns any supported object into a :class:`~tsdistill_plugin.core.Teacher`.

Supported objects:

- a :class:`~tsdistill_plugin.core.Teacher` (returned as it is);
- a Darts forecasting model, fitted or not (``tsdistill_plugin.darts.teacher``);
- a NeuralForecast model instance, fitted or not (``tsdistill_plugin.neuralforecast.teacher``);
- an ``nn.Module`` or callable ``[B, L, N] -> [B, H, N]``, given ``input_len`` and ``horizon``
  (:class:`~tsdistill_plugin.core.TorchTeacher`);
- a list of any of these (:class:`~tsdistill_plugin.core.TeacherEnsemble`).

Each library's adapter is imported only when an object of that library is passed in.
"""

from __future__ import annotations

import importlib
import weakref
from collections.abc import Callable

from torch import nn

from .core.distillation import CacheMode, Distillation
from .core.ensemble import TeacherEnsemble, Weights
from .core.teacher import (
    AUTO,
    FeatureLayer,
    FeatureLayout,
    Teacher,
    TorchTeacher,
    resolve_feature_layer,
)

_ADAPTERS: dict[str, str] = {
    "darts": "tsdistill_plugin.darts.teacher:DartsTeacher",
    "neuralforecast": "tsdistill_plugin.neuralforecast.teacher:NeuralForecastTeacher",
}


_ADAPTED: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
"""The adapter of each library model (or list of teachers) in use, by the ``id`` of what was
passed and the settings: students built with the same object share one adapter, fitted once,
which keeps its outputs for the next training run (a grid search fills them once). An adapter
holds what it wraps, so the ``id`` cannot be reused while it lives."""


def library_of(obj: object) -> str | None:
    """Top-level package of the first class in ``obj``'s MRO that comes from a known library."""
    for cls in type(obj).__mro__:
        package = cls.__module__.split(".", 1)[0]
        if package in _ADAPTERS:
            return package
    return None


def _load(reference: str) -> Callable[..., Teacher]:
    module, name = reference.split(":")
    return getattr(importlib.import_module(module), name)


def as_teacher(
    obj: object,
    *,
    feature_layer: FeatureLayer = AUTO,
    input_len: int | None = None,
    horizon: int | None = None,
    n_channels: int | None = None,
    weights: Weights = "mean",
) -> Teacher:
    """Wrap ``obj`` as a teacher.

    Parameters
    ----------
    obj
        A Darts model, a NeuralForecast model, a :class:`Teacher`, an ``nn.Module`` /
        callable mapping ``[B, L, N]`` to ``[B, H, N]``, or a list of these (several teachers,
        combined by ``weights``).
    feature_layer
        ``"auto"`` lets a library adapter pick the hidden layer to distill from (no features
        for a plain module); a dotted submodule name picks one (of the adapter's default
        layout); a ``(name, layout)`` pair declares its
        :class:`~tsdistill_plugin.core.FeatureLayout`; ``None`` disables features.
    input_len, horizon, n_channels
        Lookback, horizon and channel count of a plain module or callable (unused otherwise).
    weights
        How several teachers' forecasts are combined: ``"mean"``, ``"validation"`` (weights
        fitted on the validation split) or one weight per teacher.

    Returns
    -------
    Teacher
        An object with ``input_len``, ``horizon``, ``n_channels`` and ``forecast``. Library
        adapters also implement :class:`~tsdistill_plugin.core.FittableTeacher`; the same
        library model (and feature layer) gives the same adapter while it is in use, so
        students built from one model object share its fitting and its cached outputs.

    Raises
    ------
    TypeError
        When ``obj`` is none of the supported kinds.

    Examples
    --------
    A callable, a list, and a library model:

    >>> from neuralforecast.models import PatchTST
    >>> from tsdistill_plugin import as_teacher
    >>> as_teacher(lambda x: x[:, -12:], input_len=48, horizon=12)
    TorchTeacher(function, L=48, H=12)
    >>> ensemble = as_teacher([PatchTST(h=12, input_size=48), PatchTST(h=24, input_size=96)])
    >>> ensemble.members, ensemble.input_len, ensemble.horizon
    ([NeuralForecastTeacher(PatchTST, unfitted), NeuralForecastTeacher(PatchTST, unfitted)], 96, 24)
    >>> as_teacher("PatchTST")
    Traceback (most recent call last):
        ...
    TypeError: unsupported teacher type builtins.str; pass a Darts forecasting model, ...
    """
    if isinstance(obj, Teacher):
        return obj
    library = library_of(obj)
    several = isinstance(obj, list | tuple)
    if several or library is not None:
        key = (tuple(map(id, obj)) if several else id(obj), repr(feature_layer), repr(weights))
        adapter = _ADAPTED.get(key)
        if adapter is None:
            if several:
                lengths = {"input_len": input_len, "horizon": horizon, "n_channels": n_channels}
                members = [as_teacher(m, feature_layer=feature_layer, **lengths) for m in obj]
                adapter = TeacherEnsemble(members, weights)
            else:
                adapter = _load(_ADAPTERS[library])(obj, feature_layer=feature_layer)
            _ADAPTED[key] = adapter
        return adapter
    if isinstance(obj, nn.Module) or callable(obj):
        if input_len is None or horizon is None:
            raise ValueError(
                f"a plain {type(obj).__name__} teacher needs input_len and horizon; wrap it as "
                "TorchTeacher(model, input_len=..., horizon=...) or pass both to as_teacher."
            )
        layer = resolve_feature_layer(feature_layer, None, FeatureLayout.PER_CHANNEL)
        name, layout = layer if layer is not None else (None, FeatureLayout.PER_CHANNEL)
        return TorchTeacher(obj, input_len, horizon, n_channels, name, layout)
    raise TypeError(
        f"unsupported teacher type {type(obj).__module__}.{type(obj).__qualname__}; pass a Darts "
        "forecasting model, a NeuralForecast model, a tsdistill_plugin.core.TorchTeacher, or an "
        "nn.Module/callable mapping [batch, time, channels] windows to forecasts."
    )


def distillation_for(
    teacher: object,
    *,
    feature_layer: FeatureLayer = AUTO,
    weights: Weights = "mean",
    alpha: float = 1.0,
    beta: float = 1.0,
    temperature: float = 0.5,
    scale_levels: int | None = None,
    refit: bool = False,
    storage: CacheMode = "auto",
    stride: int = 1,
    period_weight: float = 1.0,
    quantiles: tuple[float, ...] | None = None,
) -> Distillation:
    """The lifecycle of a student constructed with ``teacher``.

    It is what both integrations' constructors build from their arguments.

    ``teacher`` may already be a :class:`~tsdistill_plugin.core.Distillation` (the libraries'
    copies of a student pass their original's on): it is returned as it is, shared.

    Examples
    --------
    >>> from tsdistill_plugin.core import TorchTeacher
    >>> from tsdistill_plugin.teachers import distillation_for
    >>> teacher = TorchTeacher(lambda x: x[:, -12:], input_len=48, horizon=12)
    >>> lifecycle = distillation_for(teacher, alpha=0.5, beta=0.0)
    >>> lifecycle.active, lifecycle.lengths(None, None, ("lookback", "horizon"))
    (True, (48, 12))
    >>> distillation_for(None).active  # the plain MLP baseline
    False
    """
    if isinstance(teacher, Distillation):
        return teacher
    if teacher is not None:
        teacher = as_teacher(teacher, feature_layer=feature_layer, weights=weights)
    settings = (alpha, beta, temperature, scale_levels, refit, storage, stride, period_weight)
    return Distillation(teacher, *settings, quantiles=quantiles)
