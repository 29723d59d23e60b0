"""Timing functions in turns: the benchmark's latency figures.

Every figure is a median wall time over rounds in which each function runs once, so that a
change of load on the machine (shared with other jobs) affects every function alike.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Hashable

import torch


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on ``device`` (an accelerator runs asynchronously)."""
    if device.type != "cpu":
        torch.accelerator.synchronize(device)


def interleaved_ms(
    functions: dict[Hashable, Callable[[], object]],
    runs: int,
    warmup: int,
    device: torch.device,
    budget_seconds: float | None = None,
) -> dict[Hashable, float]:
    """Median wall time in ms of each function, timed in turns.

    One call of each per round, so that a load change on the machine affects every function
    alike; each call is timed until the work it queued on ``device`` is done.

    Parameters
    ----------
    functions
        What to time, by name.
    runs
        Timed rounds (the most, with ``budget_seconds``).
    warmup
        Untimed rounds before them.
    device
        Where the functions queue their work.
    budget_seconds
        Stop after the round in which the timed rounds together pass this many seconds (at
        least 3 rounds are timed); ``None``: always ``runs`` rounds.
    """
    for _ in range(warmup):
        for function in functions.values():
            function()
    times: dict[Hashable, list[float]] = {name: [] for name in functions}
    spent = 0.0
    for round_number in range(runs):
        for name, function in functions.items():
            synchronize(device)
            start = time.perf_counter()
            function()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
            spent += times[name][-1]
        if budget_seconds is not None and round_number >= 2 and spent > budget_seconds:
            break
    return {name: 1000.0 * statistics.median(values) for name, values in times.items()}
