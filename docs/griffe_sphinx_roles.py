"""A griffe extension for the API reference: the package's docstrings, rendered as written.

The docstrings follow NumPy's style, whose cross-references are Sphinx roles
(:class:`~tsdistill_plugin.core.Teacher`); mkdocstrings would show those as plain text. This
extension turns each role into a cross-reference that links to the object's page when the site
documents it, and stays code otherwise. A class whose docstring is assembled at import time (its
``__doc__`` is an expression, as for NeuralForecast's students, which share their parameter
list) gets that docstring from the imported class.
"""

from __future__ import annotations

import importlib
import inspect
import re
from functools import partial
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|func|meth|data|attr|mod|exc|obj):`(~?)([^`]+)`")


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring of a package once it is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        for obj in _objects(pkg):
            if obj.is_class and obj.docstring is None and "__doc__" in obj.members:
                _docstring_from_import(obj)
            if obj.docstring is not None:
                obj.docstring.value = ROLE.sub(partial(_reference, obj), obj.docstring.value)


def _objects(obj: griffe.Object) -> list[griffe.Object]:
    found = [obj]
    for member in obj.members.values():
        if not member.is_alias:
            found.extend(_objects(member))
    return found


def _docstring_from_import(cls: griffe.Class) -> None:
    value = getattr(importlib.import_module(cls.module.path), cls.name).__doc__
    if value:
        cls.docstring = griffe.Docstring(inspect.cleandoc(value), lineno=cls.lineno, parent=cls)


def _reference(obj: griffe.Object, match: re.Match) -> str:
    short, target = match.groups()
    title = f"<code>{target.rsplit('.', 1)[-1] if short else target}</code>"
    path = _resolve(obj, target)
    if path is None:
        return title
    return f'<autoref identifier="{path}" optional>{title}</autoref>'


def _resolve(obj: griffe.Object, target: str) -> str | None:
    if target.startswith("tsdistill_plugin."):
        return target
    head, _, rest = target.partition(".")
    scope: griffe.Object | None = obj
    while scope is not None:
        try:
            return scope.resolve(head) + (f".{rest}" if rest else "")
        except (griffe.NameResolutionError, KeyError, AttributeError):
            scope = scope.parent
    return None
