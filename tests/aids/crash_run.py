"""`python -m tests.aids.crash_run STEP [training.run arguments]`: `training.run` whose processes
die right after optimizer step STEP of the first stage they train, before its checkpoint and
log line, as a killed job would (exit 17). Drives the resume test from outside the package:
it wraps `training.run.train_step`, which the loop looks up at every step."""

from __future__ import annotations

import os
import sys
from typing import Any

import training.run as run


def main() -> int:
    crash_after = int(sys.argv[1])
    real_step = run.train_step
    done = 0

    def step_then_die(*args: Any, **kwargs: Any) -> Any:
        nonlocal done
        result = real_step(*args, **kwargs)
        done += 1
        if done == crash_after:
            os._exit(17)
        return result

    run.train_step = step_then_die
    return run.main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
