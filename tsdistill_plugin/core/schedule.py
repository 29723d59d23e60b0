"""The reference's learning-rate schedule (Time-Series-Library ``lradj="type1"``)."""

from __future__ import annotations

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from .checks import check_int


def halving_lr_factor(epoch: int) -> float:
    """Learning-rate factor for a 0-based ``epoch``: 1 for two epochs, then halved each epoch.

    The reference calls its adjustment after every epoch with ``lr * 0.5 ** (e - 1)`` for the
    1-based epoch ``e`` just finished, so epochs 1 and 2 run at the base rate, epoch 3 at half
    of it, and so on. Use it with ``torch.optim.lr_scheduler.LambdaLR`` stepped once per epoch.

    Parameters
    ----------
    epoch
        Number of epochs completed so far (``LambdaLR``'s ``last_epoch``).

    Returns
    -------
    float
        The factor applied to the base learning rate.

    Examples
    --------
    >>> from tsdistill_plugin.core import halving_lr_factor
    >>> [halving_lr_factor(epoch) for epoch in range(5)]
    [1.0, 1.0, 0.5, 0.25, 0.125]

    As a scheduler stepped once per epoch:

    >>> import torch
    >>> optimizer = torch.optim.Adam(torch.nn.Linear(2, 1).parameters(), lr=0.01)
    >>> scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, halving_lr_factor)
    """
    return 0.5 ** max(epoch - 1, 0)


class HalvingLR(LRScheduler):
    """:func:`halving_lr_factor` for a scheduler stepped every batch.

    With epochs of ``steps_per_epoch`` steps: the base learning rate for
    ``2 * steps_per_epoch`` steps, then half of it for the next ``steps_per_epoch``, and so on
    (NeuralForecast steps its ``lr_scheduler`` every batch).

    Parameters
    ----------
    optimizer
        The optimizer whose learning rates are scheduled.
    steps_per_epoch
        Steps of one epoch: ``ceil(training windows / batch size)`` for the reference's epochs.
    last_epoch
        Index of the last step taken (``-1``: start from the beginning), as in ``LRScheduler``.
    """

    def __init__(self, optimizer: Optimizer, steps_per_epoch: int, last_epoch: int = -1) -> None:
        check_int("steps_per_epoch", steps_per_epoch, fix="pass the number of steps of one epoch")
        self.steps_per_epoch = steps_per_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """Return the learning rate of every parameter group at step ``last_epoch``."""
        factor = halving_lr_factor(self.last_epoch // self.steps_per_epoch)
        return [base * factor for base in self.base_lrs]
