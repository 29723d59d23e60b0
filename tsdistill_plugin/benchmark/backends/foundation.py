"""Darts foundation models as the experiment's teachers, zero-shot, for either backend.

A foundation model (``Chronos2Model``, ``TimesFM2p5Model``, ...) is built with the task's lookback
as its ``input_chunk_length`` and the task's horizon as its ``output_chunk_length`` and set up
with Darts' own ``fit`` on the training split, which with fine-tuning off (Darts' default) trains
nothing: it loads the pre-trained weights (from the model hub, or ``local_dir``) and records the
series' components. Both backends' students take it as their teacher through the Darts teacher
adapter (:mod:`tsdistill_plugin.darts.foundation`), so the NeuralForecast backend uses Darts here
too.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import torch
from pytorch_lightning.callbacks import Callback

from .base import Fitted, Stopwatch, Task
from .library_predict import darts_predict
from .reference import TeacherConfig


def model_class(config: TeacherConfig) -> type:
    """The Darts class of a foundation teacher.

    Raises
    ------
    ValueError
        When Darts cannot import it (an optional dependency is missing).
    """
    import darts.models

    cls = getattr(darts.models, config.arch["model"])
    if not isinstance(cls, type):  # Darts' stand-in for a model whose dependency is missing
        raise ValueError(
            f"--teacher {config.name}: Darts cannot import {config.arch['model']} "
            f"({cls.error_message}); install its optional dependency, or choose another teacher."
        )
    return cls


def fit_foundation_teacher(
    config: TeacherConfig,
    task: Task,
    device: torch.device,
    local_dir: str | None = None,
    accept_license: bool = False,
    callbacks: Sequence[Callback] = (),
) -> Fitted:
    """Build the foundation model of ``config`` for ``task`` and set it up zero-shot.

    Parameters
    ----------
    config
        A zero-shot teacher configuration (``config.arch["model"]`` names the Darts class).
    task
        The data set, lookback and horizon.
    device
        Where its network runs (Darts moves it to a device only for its own ``predict``; the
        experiment runs the network directly).
    local_dir
        Folder with the model's weights (``--teacher-dir``); ``None``: the model hub.
    accept_license
        Passed on to the models that ask for it (TimesFM 3, TiRex).
    callbacks
        Unused: nothing is trained (the same signature as the backends' ``fit_teacher``).

    Raises
    ------
    ValueError
        When the model cannot be built for the task's lengths (Darts' message, with the
        options that change them).
    """
    from darts import TimeSeries

    cls = model_class(config)
    arguments: dict[str, Any] = {
        "input_chunk_length": task.lookback,
        "output_chunk_length": task.horizon,
        "local_dir": local_dir,
        "random_state": task.seed,
        "pl_trainer_kwargs": {"accelerator": task.device, "enable_progress_bar": False},
    }
    if config.arch.get("license"):
        if not accept_license:
            raise ValueError(
                f"--teacher {config.name}: {config.arch['model']} asks its users to accept its "
                "license (see its Darts documentation); pass --accept-license once you have."
            )
        arguments["accept_license"] = True
    try:
        model = cls(**arguments)
    except ValueError as error:
        raise ValueError(
            f"--teacher {config.name} cannot forecast this task ({error}); choose a --lookback "
            "and --horizon within the model's context and prediction lengths."
        ) from error
    with Stopwatch() as watch:
        model.fit(TimeSeries.from_dataframe(task.train_frame()))
    model.model.to(device)
    return Fitted(
        model,
        config.arch["model"],
        watch.seconds,
        0,
        module=model.model,
        library_predict=functools.partial(darts_predict, model, task.horizon),
    )
