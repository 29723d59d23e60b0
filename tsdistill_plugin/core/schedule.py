"""The reference's learning-rate schedule (Time-Series-Library ``lradj="type1"``)."""

from __future__ import annotations


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
