"""The test suite's wall time (`make test` runs `pytest`), measured only when asked for: it takes
minutes, and benchmarks must not make `make test` depend on them, nor the reverse.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.results import Measure, Record, value_at_most

STAGE = "tests"
WALL_TIME = Measure(STAGE, "make test wall time", "s", value_at_most(1200, "s"))
_REPO = Path(__file__).resolve().parent.parent


def run(measure_now: bool, previous: Sequence[Record]) -> list[Record]:
    """Times `pytest -q` when `measure_now`; otherwise carries over the last measured record.

    Args:
        measure_now: run the suite now.
        previous: the records of the last results file, where an earlier time may be.
    """
    if measure_now:
        return [time_test_suite()]
    earlier = [r for r in previous if r.stage == STAGE and r.value is not None]
    if earlier:
        note = earlier[0].note.removeprefix("carried over from an earlier run; ")
        return [dataclasses.replace(earlier[0], note=f"carried over from an earlier run; {note}")]
    return [
        WALL_TIME.unmeasured(
            "not measured: `python -m bench.run --tests` runs pytest -q and times it"
        )
    ]


def time_test_suite() -> Record:
    """Runs `pytest -q` in the checkout, as `make test` does, and records its wall time."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=_REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    lines = result.stdout.strip().splitlines()
    summary = lines[-1].strip("= ") if lines else "no output"
    record = WALL_TIME.summarise(
        [seconds], note=f"pytest -q on {os.cpu_count()} cores: {summary} (exit {result.returncode})"
    )
    if result.returncode != 0:  # a fast suite that fails does not meet the target
        record = dataclasses.replace(record, passed=False)
    return record
