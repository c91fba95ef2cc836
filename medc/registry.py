"""Name → class registries, filled by a class decorator where each class is defined, and
looked up by the names that recipes use (builders, steps)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T", bound=type)


class Registry(Generic[T]):
    def __init__(self, what: str):
        self.what = what  # "builder", "step": for messages
        self.classes: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Class decorator: the class is known as `name` (and `cls.name` says so)."""

        def register(cls: T) -> T:
            if self.classes.get(name, cls) is not cls:
                raise ValueError(f"{self.what} name {name!r} is registered twice "
                                 f"({self.classes[name].__qualname__}, {cls.__qualname__})")
            cls.name = name  # type: ignore[attr-defined]
            self.classes[name] = cls
            return cls

        return register

    def __contains__(self, name: str) -> bool:
        return name in self.classes

    def __getitem__(self, name: str) -> T:
        return self.classes[name]

    def names(self) -> list[str]:
        return sorted(self.classes)
