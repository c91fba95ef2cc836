"""What every command line shares: a user's mistake (`UserError`) is one line on stderr and
exit status 2, never a traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

from medc.errors import UserError

USAGE_ERROR = 2


def command(main: Callable[[list[str] | None], int]) -> Callable[[list[str] | None], int]:
    """Decorator for a `main(argv) -> exit status`: `UserError` becomes `error: ...` and exit 2."""

    @functools.wraps(main)
    def run(argv: list[str] | None = None) -> int:
        try:
            return main(argv)
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return USAGE_ERROR

    return run
