"""Sizes of the NeuralForecast tests (a uniquely named module, importable next to the Darts
tests' helpers)."""

from __future__ import annotations

H = 24
L = 96
