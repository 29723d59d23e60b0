"""Checks of numeric arguments, shared by the core and both integrations.

Each refuses a value out of range (negative, zero, NaN, infinite) or of the wrong type (a bool, a
string, a float where an integer is needed) with a ``ValueError`` that names the argument, what
is expected, what was given and the fix. The students check every numeric argument when they are
constructed, so that a grid search over bad values fails before anything trains.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from numbers import Integral, Real


def check_int(
    name: str,
    value: object,
    minimum: int = 1,
    *,
    allowed: Collection[object] = (),
    fix: str | None = None,
) -> None:
    """Refuse ``value`` unless it is an integer ``>= minimum`` or one of ``allowed``.

    Parameters
    ----------
    name
        The argument's name, as the user passed it.
    value
        What the user passed.
    minimum
        The smallest integer accepted.
    allowed
        Other accepted values (``None``, or a flag such as ``-1``).
    fix
        How to fix a bad value; by default, what to pass instead.

    Raises
    ------
    ValueError
        Naming the argument, what is expected, what was given and the fix.
    """
    if any(value is a or (type(value) is type(a) and value == a) for a in allowed):
        return
    if isinstance(value, Integral) and not isinstance(value, bool) and value >= minimum:
        return
    expected = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    if allowed:
        expected += " or " + " or ".join(repr(a) for a in allowed)
    _refuse(name, value, expected, fix or f"pass {expected}")


def check_float(
    name: str,
    value: object,
    *,
    positive: bool = True,
    fix: str | None = None,
) -> None:
    """Refuse ``value`` unless it is a finite real number ``> 0`` (``>= 0`` if not positive).

    Parameters
    ----------
    name
        The argument's name, as the user passed it.
    value
        What the user passed.
    positive
        Refuse 0 as well.
    fix
        How to fix a bad value; by default, what to pass instead.

    Raises
    ------
    ValueError
        Naming the argument, what is expected, what was given and the fix.
    """
    if isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value):
        if value > 0 or (value == 0 and not positive):
            return
    expected = "a finite number " + ("> 0" if positive else ">= 0")
    _refuse(name, value, expected, fix or f"pass {expected}")


def _refuse(name: str, value: object, expected: str, fix: str) -> None:
    raise ValueError(f"{name} must be {expected}, got {value!r}; {fix}.")
