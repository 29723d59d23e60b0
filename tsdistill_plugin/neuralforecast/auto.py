"""``AutoDistilledMLP``: the distilled student with its weights tuned on the validation split.

It follows the style of NeuralForecast's ``Auto*`` models.

Every trial shares the teacher (fitted, and its outputs cached, once for all trials with the
optuna backend, which runs the trials in this process), and the first trial is the plain
student (``alpha = beta = 0``), so the tuned student is never worse on validation than the MLP
trained without its teacher.
"""

from __future__ import annotations

from typing import Any

import optuna
from neuralforecast.losses.pytorch import MSE
from ray import tune
from ray.tune.search.basic_variant import BasicVariantGenerator

from ..teachers import as_teacher
from ._compat import AutoHooks, optuna_space
from .models import DistilledMLP

PLAIN = {"alpha": 0.0, "beta": 0.0}
"""The trial that trains without the teacher."""


class AutoDistilledMLP(AutoHooks):
    """Tunes :class:`~tsdistill_plugin.neuralforecast.DistilledMLP` on the validation split.

    Parameters
    ----------
    h
        Forecast horizon.
    teacher
        The teacher of every trial (anything ``DistilledMLP`` takes), fitted or not.
    input_size
        The student's lookback (not searched; by default the teacher's).
    loss, valid_loss
        NeuralForecast losses (``MSE()`` by default, the reference's; validation uses
        ``loss`` unless ``valid_loss`` is given).
    config
        The search space: a dict of ray ``tune`` samplers (``backend="ray"``) or a function of
        an optuna trial (``backend="optuna"``); by default :attr:`default_config`, over the
        distillation weights, the temperature, the width and the learning rate.
    search_alg, num_samples, time_budget, refit_with_val, verbose, alias, backend, callbacks,
    ray_options, optuna_options
        As for NeuralForecast's ``Auto*`` models; the default backend is ``"optuna"`` (trials
        in this process share the teacher's cached outputs).

    Examples
    --------
    >>> from neuralforecast import NeuralForecast
    >>> from neuralforecast.models import PatchTST
    >>> from tsdistill_plugin.neuralforecast import AutoDistilledMLP
    >>> auto = AutoDistilledMLP(h=96, teacher=PatchTST(h=96, input_size=720), num_samples=20)
    >>> NeuralForecast(models=[auto], freq="h").fit(df, val_size=96)  # doctest: +SKIP
    """

    default_config = {
        "alpha": tune.choice([0.0, 0.1, 0.5, 1.0, 2.0]),
        "beta": tune.choice([0.0, 0.1, 0.5, 1.0, 2.0]),
        "temperature": tune.choice([0.25, 0.5, 1.0]),
        "hidden_size": tune.choice([128, 256, 512]),
        "learning_rate": tune.loguniform(1e-3, 3e-2),
        "max_steps": tune.choice([500, 1000]),
        "random_seed": tune.randint(1, 20),
    }

    def __init__(
        self,
        h: int,
        teacher: Any,
        input_size: int | None = None,
        loss: Any = None,
        valid_loss: Any = None,
        config: dict | Any = None,
        search_alg: Any = None,
        num_samples: int = 10,
        time_budget: float | None = None,
        refit_with_val: bool = False,
        verbose: bool = False,
        alias: str | None = None,
        backend: str = "optuna",
        callbacks: list | None = None,
        ray_options: Any = None,
        optuna_options: Any = None,
    ) -> None:
        if config is None:
            config = self.get_default_config(h=h, backend=backend)
        if search_alg is None:
            search_alg = _first_trial_plain(backend)
        super().__init__(
            cls_model=DistilledMLP,
            h=h,
            loss=MSE() if loss is None else loss,
            valid_loss=valid_loss,
            config=config,
            search_alg=search_alg,
            num_samples=num_samples,
            time_budget=time_budget,
            refit_with_val=refit_with_val,
            verbose=verbose,
            alias=alias,
            backend=backend,
            callbacks=callbacks,
            ray_options=ray_options,
            optuna_options=optuna_options,
        )
        # the adapter, not the model: it is no submodule of this LightningModule, and every
        # trial's student shares it
        self.teacher = as_teacher(teacher)
        self.input_size = input_size

    @classmethod
    def get_default_config(cls, h: int, backend: str) -> dict | Any:
        """The default search space for ``backend``."""
        config = dict(cls.default_config)
        return optuna_space(config) if backend == "optuna" else config

    def build_model(self, cls_model: type, config: dict) -> DistilledMLP:
        """A trial's student: its config plus the shared teacher and lookback."""
        return cls_model(**config, teacher=self.teacher, input_size=self.input_size)


def _first_trial_plain(backend: str) -> Any:
    """A search algorithm whose first trial is the plain student (``alpha = beta = 0``)."""
    if backend == "ray":
        return BasicVariantGenerator(random_state=1, points_to_evaluate=[dict(PLAIN)])
    return PlainFirstSampler(optuna.samplers.TPESampler(seed=1))


class PlainFirstSampler(optuna.samplers.BaseSampler):
    """An optuna sampler: ``alpha = beta = 0`` in the first trial, then ``sampler``'s choices.

    Parameters
    ----------
    sampler
        The sampler of every other choice.
    """

    def __init__(self, sampler: optuna.samplers.BaseSampler) -> None:
        self.sampler = sampler

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict:
        """Delegate to the wrapped sampler."""
        return self.sampler.infer_relative_search_space(study, trial)

    def sample_relative(self, study: Any, trial: Any, search_space: dict) -> dict:
        """The wrapped sampler's values, without the weights in the first trial."""
        sampled = self.sampler.sample_relative(study, trial, search_space)
        if trial.number == 0:
            sampled = {k: v for k, v in sampled.items() if k not in PLAIN}
        return sampled

    def sample_independent(self, study: Any, trial: Any, name: str, distribution: Any) -> Any:
        """``0`` for the weights in the first trial, else the wrapped sampler's value."""
        if trial.number == 0 and name in PLAIN:
            return PLAIN[name]
        return self.sampler.sample_independent(study, trial, name, distribution)
