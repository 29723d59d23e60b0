"""What the plugin may touch of Darts and NeuralForecast, and what importing it changes.

Every private name of either library lives in that integration's ``_compat.py``; importing the
plugin changes no attribute of any library class except NeuralForecast's model registry.
"""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tsdistill_plugin"
LIBRARIES = ("darts", "neuralforecast")
COMPAT = {PACKAGE / "darts" / "_compat.py", PACKAGE / "neuralforecast" / "_compat.py"}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _library_private_attributes() -> set[str]:
    """Private attribute names defined by the library classes the plugin builds on."""
    from darts.models.forecasting.forecasting_model import ForecastingModel
    from darts.models.forecasting.pl_forecasting_module import PLForecastingModule
    from darts.models.forecasting.torch_forecasting_model import TorchForecastingModel
    from darts.timeseries import TimeSeries
    from neuralforecast import NeuralForecast
    from neuralforecast.common._scalers import TemporalNorm
    from neuralforecast.tsdataset import TimeSeriesDataset

    from tsdistill_plugin.neuralforecast._compat import BaseModel

    classes = [
        ForecastingModel,
        TorchForecastingModel,
        PLForecastingModule,
        TimeSeries,
        NeuralForecast,
        BaseModel,
        TemporalNorm,
        TimeSeriesDataset,
    ]
    names = {name for cls in classes for name in dir(cls) if _is_private(name)}
    # instance attributes set in the constructors (e.g. ``_fit_called``)
    for cls in classes:
        for klass in cls.__mro__:
            if klass.__module__.split(".")[0] not in LIBRARIES:
                continue
            try:
                source = inspect.getsource(klass)
            except (OSError, TypeError):
                continue
            for node in ast.walk(ast.parse(source)):
                if (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "self"
                    and _is_private(node.attr)
                ):
                    names.add(node.attr)
    return names


def _plugin_modules() -> list[Path]:
    return [path for path in sorted(PACKAGE.rglob("*.py")) if path not in COMPAT]


def _violations(path: Path, library_private: set[str]) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] in LIBRARIES:
                if any(_is_private(part) for part in parts):
                    found.append(f"line {node.lineno}: from {node.module} import ...")
                found += [
                    f"line {node.lineno}: imports {alias.name} from {node.module}"
                    for alias in node.names
                    if _is_private(alias.name)
                ]
        elif isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: import {alias.name}"
                for alias in node.names
                if alias.name.split(".")[0] in LIBRARIES
                and any(_is_private(part) for part in alias.name.split("."))
            ]
        elif isinstance(node, ast.Attribute) and node.attr in library_private:
            found.append(f"line {node.lineno}: uses the library's private .{node.attr}")
        elif isinstance(node, ast.ClassDef):
            found += [
                f"line {item.lineno}: overrides the library's private {item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef) and item.name in library_private
            ]
    return found


def test_private_library_names_are_used_in_the_compat_modules_only():
    library_private = _library_private_attributes()
    problems = {
        str(path.relative_to(PACKAGE.parent)): found
        for path in _plugin_modules()
        if (found := _violations(path, library_private))
    }
    assert not problems, f"private Darts/NeuralForecast names outside _compat.py: {problems}"


def test_the_check_sees_a_private_name(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from darts.utils.data.torch_datasets.utils import _batch_collate_fn_train\n"
        "from neuralforecast.common._base_model import BaseModel\n"
        "def f(model):\n    return model._fit_called\n"
        "class Student:\n    def _create_model(self, sample):\n        return None\n"
        "def _create_model():\n    return None\n"  # a module function overrides nothing
    )
    found = _violations(bad, {"_fit_called", "_create_model"})
    assert len(found) == 4, found


IMPORT_CHANGES = """
import sys, inspect
import darts.models, neuralforecast.models, neuralforecast.core
from neuralforecast import NeuralForecast

def classes():
    for module in list(sys.modules.values()):
        name = getattr(module, "__name__", "") or ""
        if name.split(".")[0] not in ("darts", "neuralforecast"):
            continue
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__.split(".")[0] in ("darts", "neuralforecast"):
                yield cls

def snapshot():
    return {
        (cls.__module__, cls.__qualname__): {k: id(v) for k, v in vars(cls).items()}
        for cls in classes()
    }

before = snapshot()
registry = dict(neuralforecast.core.MODEL_FILENAME_DICT)
import tsdistill_plugin.darts, tsdistill_plugin.neuralforecast
after = snapshot()
changed = sorted(
    f"{key[0]}.{key[1]}" for key in before if key in after and before[key] != after[key]
)
added = sorted(set(neuralforecast.core.MODEL_FILENAME_DICT) - set(registry))
print(changed)
print(added)
"""


@pytest.mark.slow
def test_importing_the_plugin_changes_no_library_class_and_registers_the_students():
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_CHANGES], capture_output=True, text=True, check=True
    )
    changed, added = result.stdout.strip().splitlines()[-2:]
    assert changed == "[]"
    assert added == "['distilledmlp', 'distilledmlpmultivariate']"


@pytest.mark.slow
@pytest.mark.parametrize(
    "integration", ["tsdistill_plugin.darts", "tsdistill_plugin.neuralforecast"]
)
def test_an_integration_loads_nothing_of_the_benchmark_or_the_other_library(integration):
    other = "neuralforecast" if integration.endswith("darts") else "darts"
    code = (
        f"import sys, {integration}; "
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(('darts', "
        "'neuralforecast'))})); "
        "print(sorted(m for m in sys.modules if m.startswith('tsdistill_plugin.benchmark')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    libraries, benchmark = result.stdout.strip().splitlines()[-2:]
    assert other not in libraries
    assert benchmark == "[]"
