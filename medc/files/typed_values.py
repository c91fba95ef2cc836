"""Values read from TOML (recipes, step parameters, training configs) checked against Python
type annotations, and those annotations said in words for error messages."""

from __future__ import annotations

import math
import types
import typing
from typing import Any


def describe(hint: Any) -> str:
    """A type annotation in words, for error messages."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):  # (None is a default, never written in TOML)
        return " or ".join(describe(a) for a in typing.get_args(hint) if a is not type(None))
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        plural = {int: "integers", float: "numbers", str: "strings", bool: "true/false values"}
        item = typing.get_origin(item) or item
        return f"a list of {'tables' if item is dict else plural.get(item, 'values')}"
    if origin is dict:
        return "a table"
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def conforms(value: Any, hint: Any) -> bool:
    """Whether a TOML value fits an annotation (int fits float; bool is not a number; no NaN/inf)."""
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        return any(conforms(value, a) for a in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is list:
        args = typing.get_args(hint)
        return isinstance(value, list) and all(conforms(v, args[0]) for v in value) if args else isinstance(value, list)
    if origin is dict:
        args = typing.get_args(hint)
        return isinstance(value, dict) and (not args or all(conforms(v, args[1]) for v in value.values()))
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)
