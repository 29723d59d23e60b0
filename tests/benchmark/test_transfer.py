"""A strong teacher makes a better student: the imitation recipe on CO2 with TiDE (issue 17)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tsdistill_plugin.benchmark import load_dataset
from tsdistill_plugin.benchmark.backends import get_backend
from tsdistill_plugin.benchmark.backends.base import StudentSetup, Task, predictor
from tsdistill_plugin.benchmark.backends.reference import student_settings, teacher_config
from tsdistill_plugin.benchmark.config import BenchmarkConfig
from tsdistill_plugin.benchmark.experiment import resolve_plans
from tsdistill_plugin.benchmark.report import kept_fraction
from tsdistill_plugin.benchmark.weights import IMITATION, Setting
from tsdistill_plugin.teachers import as_teacher

LOOKBACK, HORIZON = 104, 52


def _test_mse(fitted, windows: tuple[np.ndarray, np.ndarray]) -> float:  # noqa: ANN001
    x, y = (torch.tensor(np.asarray(a)) for a in windows)
    return float((predictor(fitted, HORIZON)(x).double() - y.double()).square().mean())


@pytest.mark.slow
def test_the_imitation_recipe_keeps_most_of_a_strong_teachers_advantage_on_co2() -> None:
    dataset = load_dataset("co2")
    task = Task(dataset, LOOKBACK, HORIZON, 2021, "cpu")
    backend = get_backend("darts")
    teacher = backend.fit_teacher(teacher_config("tide", "co2"), task)
    plan = resolve_plans(BenchmarkConfig(), dataset)["mlp"]
    spec = StudentSetup(student_settings("co2").hidden_size, "mean", 0.0, 0.0, plan)
    plain = backend.fit_student(spec, None, task)
    distilled = backend.fit_student(
        Setting(4.0, 0.0, IMITATION).student(spec), as_teacher(teacher.model), task
    )
    test = dataset.windows("test", LOOKBACK, HORIZON)
    mse = {
        name: _test_mse(f, test)
        for name, f in [("teacher", teacher), ("plain", plain), ("distilled", distilled)]
    }
    assert mse["teacher"] < 0.9 * mse["plain"]  # a clearly better teacher
    # measured 0.0046 against plain 0.0061 and teacher 0.0045 (about 95% kept); the reference's
    # recipe at its best weights keeps under 15% here (docs/teachers.md)
    assert kept_fraction(mse["plain"], mse["distilled"], mse["teacher"]) > 0.6, mse
