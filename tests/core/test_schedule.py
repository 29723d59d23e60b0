"""The reference's learning-rate schedule (``lradj="type1"``), per epoch and per step."""

from __future__ import annotations

import pytest
import torch

from tsdistill_plugin.core import HalvingLR, halving_lr_factor


def test_epoch_factors_are_the_references():
    # lr = 0.01 * 0.5 ** (e - 1) after 1-based epoch e: epochs 1 and 2 at the base rate
    assert [halving_lr_factor(e) for e in range(5)] == [1.0, 1.0, 0.5, 0.25, 0.125]


def test_step_scheduler_halves_every_epoch_of_steps_after_the_second():
    optimizer = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=0.01)
    scheduler = HalvingLR(optimizer, steps_per_epoch=3)
    rates = []
    for _ in range(12):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    expected = [0.01 * halving_lr_factor(step // 3) for step in range(12)]
    assert rates == pytest.approx(expected)
    assert rates[5] == 0.01 and rates[6] == 0.005 and rates[9] == 0.0025


@pytest.mark.parametrize("steps", [0, -2, 2.5, True])
def test_bad_steps_per_epoch(steps):
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="steps_per_epoch must be a positive integer"):
        HalvingLR(optimizer, steps_per_epoch=steps)
