#!/usr/bin/env bash
# Creates .venv with the CPU build of torch and tsdistill-plugin with every extra (Spark's too).
# Usage: bash install.sh            (PYTHON=python3.11 bash install.sh to pick the interpreter)
# On a CUDA machine, install the torch build you want into .venv first; pip keeps it.
set -euo pipefail
cd "$(dirname "$0")"
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[all,spark,dev]"
echo "installed: $(.venv/bin/python -c 'import torch, tsdistill_plugin; print("tsdistill_plugin", tsdistill_plugin.__version__, "torch", torch.__version__)')"
# pyspark runs on a Java runtime (17 or newer), which pip cannot install. Without one the Spark
# tests skip (saying so) and everything else works.
if [ -x "${JAVA_HOME:-/nonexistent}/bin/java" ] || command -v java >/dev/null 2>&1; then
    echo "Spark: $("${JAVA_HOME:+$JAVA_HOME/bin/}java" -version 2>&1 | head -n 1)"
else
    echo "Spark: no Java runtime found (the Spark tests will skip); install Java 17, e.g. on" \
        "Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless (or set JAVA_HOME)"
fi
