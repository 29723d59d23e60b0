"""The integrations never load the benchmark (it is the experiment, not the library)."""

from __future__ import annotations

import subprocess
import sys


def test_integrations_load_nothing_of_the_benchmark() -> None:
    code = (
        "import sys, tsdistill_plugin.darts, tsdistill_plugin.neuralforecast\n"
        "print(sorted(m for m in sys.modules if m.startswith('tsdistill_plugin.benchmark')))\n"
        "print('tsdistill_plugin.darts' in sys.modules, 'neuralforecast' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    loaded, imported = done.stdout.splitlines()[-2:]
    assert imported == "True True"  # both integrations were really imported
    assert loaded == "[]"
