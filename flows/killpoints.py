"""Kill points for the fault-injection suite: with `KATSAUS_KILL_AT=<stage>` the run's process kills itself with
SIGKILL right after that stage, as a power cut or the out-of-memory killer would. Unset (always, outside the
suite) it does nothing."""

from __future__ import annotations

import os
import signal

KILL_AT = "KATSAUS_KILL_AT"
# The stage boundaries a run passes, in order: the draft's (extract, validate, load, render), then the approved
# report's (publish, archive, send).
STAGES = ("extract", "validate", "load", "render", "publish", "archive", "send")


def passed(stage: str) -> None:
    """The run has finished `stage`: die here if the suite says so."""
    if os.environ.get(KILL_AT) == stage:
        os.kill(os.getpid(), signal.SIGKILL)
