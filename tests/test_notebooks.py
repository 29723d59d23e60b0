"""The tutorial notebooks in ``examples/notebooks/`` run from top to bottom without an error.

Each runs in a fresh kernel of this interpreter (nbclient), in an empty working folder that must
stay empty, importing this checkout's package. The committed copies keep their outputs; the
executed copy is discarded.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebooks need the dev extra")
nbclient = pytest.importorskip("nbclient", reason="the notebooks need the dev extra")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "examples" / "notebooks").glob("*.ipynb"))


def test_the_tutorials_are_there():
    assert [p.name for p in NOTEBOOKS] == ["darts_tutorial.ipynb", "neuralforecast_tutorial.ipynb"]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, data_dir, tmp_path, monkeypatch):
    # the kernel inherits this environment: the data, this checkout's package
    monkeypatch.setenv("TSDISTILL_DATA", str(data_dir))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=600,
        # ipykernel's kernel; jupyter_client starts a kernel whose command is "python" with
        # sys.executable, i.e. this interpreter
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on an error
    printed = "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "stream"
    )
    # each tutorial saves its student, reloads it without the teacher and compares forecasts
    assert "forecasts differ by 0.0e+00" in printed, printed[-2000:]
    assert not any(tmp_path.iterdir()), sorted(p.name for p in tmp_path.iterdir())
