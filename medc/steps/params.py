"""Typed step parameters: each step declares its parameters as a small frozen dataclass;
`StepParams.parse` turns a recipe's `[[steps]]` table into one, refusing an unknown key, a
value of the wrong type, NaN or infinity, and (through the step's own `check`) a value out
of range, each as a one-line `UserError` naming the recipe, the step and the key."""

from __future__ import annotations

import math
import types
import typing
from dataclasses import dataclass, fields
from typing import Any, Self, get_type_hints

from medc.errors import UserError


class ParamError(ValueError):
    """A parameter value out of range: `key` and what it must be."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


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


@dataclass(frozen=True)
class StepParams:
    """Base of every step's parameters. Subclasses are frozen dataclasses whose fields all have
    defaults; `check` raises `ParamError` for a value out of range."""

    @classmethod
    def parse(cls, raw: dict[str, Any], where: str, step: str) -> Self:
        hints = get_type_hints(cls)
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(raw) - set(names))
        if unknown:
            raise UserError(f"{where}: unknown parameter {unknown[0]!r} for step {step!r} (known: {', '.join(sorted(names)) or 'none'})")
        for key, value in raw.items():
            if not conforms(value, hints[key]):
                raise UserError(f"{where}: step {step!r}: {key} must be {describe(hints[key])}, not {value!r}")
        try:
            params = cls(**raw)
            params.check()
        except ParamError as exc:
            raise UserError(f"{where}: step {step!r}: {exc}") from None
        return params

    def check(self) -> None:
        """Raise `ParamError(key, message)` for a value out of range."""

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def positive_int(params: StepParams, *keys: str) -> None:
    for key in keys:
        if getattr(params, key) < 1:
            raise ParamError(key, f"{key} must be a positive integer")
