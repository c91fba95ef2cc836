"""Typed step parameters: each step declares its parameters as a small frozen dataclass;
`StepParams.parse` turns a recipe's `[[steps]]` table into one, refusing an unknown key, a
value of the wrong type, NaN or infinity, and (through the step's own `check`) a value out
of range, each as a one-line `UserError` naming the recipe, the step and the key."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Self, get_type_hints

from medc.errors import UserError
from medc.files.typed_values import conforms, describe


class ParamError(ValueError):
    """A parameter value out of range: `key` and what it must be."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


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
