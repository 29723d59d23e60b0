"""Device checks and settings shared by the integrations.

Both integrations train through PyTorch Lightning.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import torch


def check_accelerator(accelerator: object, argument: str) -> None:
    """Reject an accelerator that this machine does not have, before any training starts.

    Parameters
    ----------
    accelerator
        What the user asked Lightning for: ``"auto"``, ``"cpu"``, ``"gpu"``, ``"cuda"``,
        ``"mps"``, another registered name, or a Lightning ``Accelerator`` instance.
    argument
        How the user passed it (e.g. ``"pl_trainer_kwargs['accelerator']"``), for the message.

    Raises
    ------
    ValueError
        When the accelerator is known to Lightning but not available here.

    Examples
    --------
    >>> from tsdistill_plugin.devices import check_accelerator
    >>> check_accelerator("cpu", "accelerator")  # available: nothing happens
    >>> check_accelerator("auto", "pl_trainer_kwargs['accelerator']")
    """
    from pytorch_lightning.accelerators import Accelerator, AcceleratorRegistry

    if isinstance(accelerator, Accelerator):
        available, name = accelerator.is_available(), type(accelerator).__name__
    elif accelerator in ("auto", None):
        return
    elif accelerator == "gpu":
        available, name = torch.cuda.is_available() or torch.backends.mps.is_available(), "gpu"
    elif accelerator in AcceleratorRegistry:
        name = accelerator
        available = AcceleratorRegistry[accelerator]["accelerator"].is_available()
    else:
        return
    if not available:
        raise ValueError(
            f"{argument}={name!r} is not available on this machine; use 'cpu', or 'auto' to "
            "take whatever device exists."
        )


def for_prediction(trainer_kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
    """Lightning ``Trainer`` arguments to predict with, where those the student trained with fail.

    ``None`` when the training arguments serve.

    A student trained on several devices predicts on one (:func:`one_device`), and a student
    trained on an accelerator this machine lacks (a GPU-trained student loaded on a CPU machine)
    predicts on the CPU, with a warning.

    Examples
    --------
    >>> from tsdistill_plugin.devices import for_prediction
    >>> for_prediction({"accelerator": "cpu", "devices": 2, "strategy": "ddp_spawn"})
    {'accelerator': 'cpu', 'devices': 1, 'strategy': 'auto', 'num_nodes': 1}
    >>> for_prediction({"accelerator": "cpu", "devices": 1}) is None
    True
    """
    accelerator = trainer_kwargs.get("accelerator")
    try:
        check_accelerator(accelerator, "accelerator")
    except ValueError:
        warnings.warn(
            f"the student was trained with accelerator={accelerator!r}, which this machine does "
            "not have; it predicts on the CPU.",
            UserWarning,
            stacklevel=3,
        )
        cpu = {k: v for k, v in trainer_kwargs.items() if k not in ("devices", "strategy")}
        return {**cpu, "accelerator": "cpu"}
    return one_device(trainer_kwargs)


@contextlib.contextmanager
def predicting_on_one_device(owner: object, attribute: str) -> Iterator[None]:
    """Swap ``owner``'s trainer arguments for :func:`for_prediction`'s while predicting.

    Parameters
    ----------
    owner
        The student (a Darts model or a NeuralForecast model).
    attribute
        The name of its Lightning ``Trainer`` arguments (``"trainer_params"`` in Darts,
        ``"trainer_kwargs"`` in NeuralForecast).
    """
    trainer_kwargs = getattr(owner, attribute)
    single = for_prediction(trainer_kwargs)
    if single is None:
        yield
        return
    setattr(owner, attribute, single)
    try:
        yield
    finally:
        setattr(owner, attribute, trainer_kwargs)


def one_device(trainer_kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
    """Lightning ``Trainer`` arguments that run in this process on one device.

    For prediction after training on several; ``None`` when ``trainer_kwargs`` already do.

    Under a distributed strategy Lightning shards the prediction data across processes and
    hands back only each process's part (``ddp_spawn`` hands back nothing at all), so a student
    trained on several devices or nodes predicts on one: the first of its ``devices``.

    Parameters
    ----------
    trainer_kwargs
        The ``Trainer`` arguments the student trains with (``strategy``, ``devices``,
        ``num_nodes``, ...).

    Examples
    --------
    >>> from tsdistill_plugin.devices import one_device
    >>> one_device({"accelerator": "gpu", "devices": [2, 3], "strategy": "ddp"})
    {'accelerator': 'gpu', 'devices': [2], 'strategy': 'auto', 'num_nodes': 1}
    >>> one_device({"accelerator": "gpu", "devices": 1}) is None
    True
    """
    from pytorch_lightning.strategies import ParallelStrategy

    strategy = trainer_kwargs.get("strategy", "auto")
    devices = trainer_kwargs.get("devices", "auto")
    parallel = isinstance(strategy, ParallelStrategy) or (
        isinstance(strategy, str) and strategy not in ("auto", "single_device")
    )
    several = devices not in (1, "1", [0], (0,)) and not (
        isinstance(devices, (list, tuple)) and len(devices) == 1
    )
    if not (parallel or several or trainer_kwargs.get("num_nodes", 1) != 1):
        return None
    if isinstance(devices, str) and "," in devices:
        devices = [int(index) for index in devices.split(",") if index.strip()]
    first = [devices[0]] if isinstance(devices, (list, tuple)) and devices else 1
    return {**trainer_kwargs, "strategy": "auto", "devices": first, "num_nodes": 1}
