"""Every private name of Darts that the plugin uses, each with the reason no public hook serves.

Checked against darts 0.48.1. Nothing else in the plugin touches a Darts name that starts with
an underscore (``tests/test_library_boundaries.py`` fails otherwise), so a Darts upgrade is
checked here alone.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch
from darts.models.forecasting.forecasting_model import ForecastingModel, _model_call_stack_top
from darts.models.forecasting.pl_forecasting_module import PLForecastingModule
from darts.models.forecasting.torch_forecasting_model import MixedCovariatesTorchModel
from darts.utils.data import ShiftedTorchTrainingDataset
from darts.utils.data.torch_datasets.utils import (
    PLModuleInput,
    TorchTrainingBatch,
    TorchTrainingSample,
    _batch_collate_fn_train,
)

from ..core.quantiles import interpolate_quantiles
from ..core.teacher import distribution_median, distribution_quantiles

CHECKED_VERSION = "0.48.1"


class StudentModelHooks(MixedCovariatesTorchModel):
    """The private hooks of Darts' ``TorchForecastingModel`` that a student overrides.

    The base is Darts' ``MixedCovariatesTorchModel`` (past and future covariates, as TiDE).

    Each is turned into a public-named attribute or method of the student.

    - ``_extract_model_creation_params`` deep-copies every constructor argument when the model
      is built; the arguments named in :attr:`shared_params` (the teacher) are kept as they
      are instead, so that building a student never copies its teacher.
    - ``_ckpt_skipped_params`` lists the arguments that may differ between a model and a
      checkpoint it loads; :attr:`training_only_params` are added to it.
    - ``_create_model`` (Darts' abstract factory of the Lightning module, the hook every Darts
      model implements) calls :meth:`create_module`.
    - ``_considers_static_covariates`` is the flag behind ``considers_static_covariates``,
      which Darts models set from their ``use_static_covariates`` argument (TiDE's
      constructor); :meth:`consider_static_covariates` sets it.
    """

    shared_params: tuple[str, ...] = ()
    training_only_params: tuple[str, ...] = ()

    def _extract_model_creation_params(self) -> OrderedDict:
        return OrderedDict(
            (key, value if key in self.shared_params else copy.deepcopy(value))
            for key, value in _model_call_stack_top().items()
        )

    @property
    def _ckpt_skipped_params(self) -> list[str]:
        return super()._ckpt_skipped_params + list(self.training_only_params)

    def _create_model(self, train_sample: TorchTrainingSample) -> PLForecastingModule:
        return self.create_module(train_sample)

    def create_module(self, train_sample: TorchTrainingSample) -> PLForecastingModule:
        """Build the Lightning module for samples like ``train_sample``."""
        raise NotImplementedError

    def consider_static_covariates(self, flag: bool) -> None:
        """Whether the model reads the static covariates of its series (when they have some)."""
        self._considers_static_covariates = flag

    @classmethod
    def split_params(cls, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Split constructor arguments into ``TorchForecastingModel``'s and the module's.

        The second part goes to the ``PLForecastingModule``, as every Darts model's constructor
        does with two private class methods.
        """
        return cls._extract_torch_model_params(**params), cls._extract_pl_module_params(**params)


def collate_training_samples(samples: Sequence[TorchTrainingSample]) -> TorchTrainingBatch:
    """Darts' default collate function for training samples.

    It is private, and the only way to batch samples as Darts' Lightning modules expect them.
    """
    return _batch_collate_fn_train(list(samples))


def end_of_output_index(dataset: ShiftedTorchTrainingDataset, index: int) -> tuple[int, int]:
    """The series and the position after the last target step of a training sample.

    Darts' training datasets compute where sample ``index`` lies (a series may hold fewer
    samples than another and repeat them) only in the private ``_get_end_of_output_idx``.
    """
    series_index = index // dataset.max_samples_per_ts
    series = dataset.series[series_index]
    return series_index, int(dataset._get_end_of_output_idx(series, series_index, index))


def is_fitted(model: ForecastingModel) -> bool:
    """Whether ``fit`` was called on a Darts model.

    Read from ``_fit_called``: Darts has no public flag; ``model_created`` exists for torch
    models only.
    """
    return bool(model._fit_called)


def module_median(module: PLForecastingModule, x: torch.Tensor) -> torch.Tensor:
    """The point forecast ``[batch, horizon, channels]`` of a Darts module for windows ``x``.

    The module's raw output is ``[batch, horizon, channels, n_params]``; the forecast is the
    output itself without a likelihood, else the median of the likelihood.

    A ``QuantileRegression`` gives its 0.5 quantile. Other likelihoods expose their distribution
    only through the private ``_params_from_output`` and ``_distr_from_params``
    (:func:`~tsdistill_plugin.core.teacher.distribution_median` takes its median).
    """
    output = module(PLModuleInput(past_target=x)).prediction
    likelihood = getattr(module, "likelihood", None)
    if likelihood is None:
        return output[..., 0]
    quantiles = getattr(likelihood, "quantiles", None)
    if quantiles is not None:
        return output[..., list(quantiles).index(0.5)]
    distribution = likelihood._distr_from_params(likelihood._params_from_output(output))
    return distribution_median(distribution, like=output[..., 0])


def module_quantiles(
    module: PLForecastingModule, x: torch.Tensor, quantiles: tuple[float, ...]
) -> torch.Tensor:
    """A probabilistic Darts module's forecast of windows ``x`` at the levels ``quantiles``.

    Returns ``[batch, horizon, channels, len(quantiles)]``. A ``QuantileRegression``'s own
    quantiles are interpolated to ``quantiles`` where the levels differ
    (:func:`~tsdistill_plugin.core.quantiles.interpolate_quantiles`); another likelihood's
    distribution, reached through the private ``_params_from_output`` and
    ``_distr_from_params`` as in :func:`module_median`, gives its exact quantiles.
    """
    output = module(PLModuleInput(past_target=x)).prediction
    likelihood = module.likelihood
    own = getattr(likelihood, "quantiles", None)
    if own is not None:
        return interpolate_quantiles(output, own, quantiles)
    distribution = likelihood._distr_from_params(likelihood._params_from_output(output))
    return distribution_quantiles(distribution, quantiles, like=output[..., 0])


def quantile_levels(model: Any) -> tuple[float, ...] | None:
    """The levels of a Darts model's ``QuantileRegression`` likelihood, else ``None``."""
    levels = getattr(model.likelihood, "quantiles", None)
    return None if levels is None else tuple(float(q) for q in levels)
