"""Benchmark records: what each measure is held to, medians over repeats, the table and the JSON.

A record is one line of `bench/results.json`:
`{"stage", "measure", "value", "unit", "baseline", "ratio", "target", "pass"}` plus an optional
`note`. `ratio` is value / baseline, the median of the per-repeat ratios: both sides of a repeat
run back to back on the same data, so the ratio holds on a noisy machine where raw rates do not.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import statistics
import traceback
from collections.abc import Callable, Sequence
from typing import Any, Literal

_LOG = logging.getLogger(__name__)
FIELDS = ("stage", "measure", "value", "unit", "baseline", "ratio", "target", "pass")


@dataclasses.dataclass(frozen=True)
class Target:
    """The limit a measure is held to: on its ratio, on its value, or none (`report`).

    Attributes:
        on: "ratio", "value", or "none" for measures that are only reported.
        op: ">=" or "<=" (None for `report`).
        limit: the bound (None for `report`).
        unit: the limit's unit, for display ("x", "%", "s").
    """

    on: Literal["ratio", "value", "none"]
    op: Literal[">=", "<="] | None = None
    limit: float | None = None
    unit: str = ""

    def __str__(self) -> str:
        if self.on == "none":
            return "report"
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.on} {self.op} {self.limit:g}{unit}"

    def check(self, value: float | None, ratio: float | None) -> bool | None:
        """Whether the figure meets the limit; None for `report`, False when it is missing."""
        if self.on == "none":
            return None
        figure = ratio if self.on == "ratio" else value
        if figure is None or not math.isfinite(figure):
            return False
        return figure >= self.limit if self.op == ">=" else figure <= self.limit


REPORT = Target("none")


def ratio_at_least(limit: float) -> Target:
    """value / baseline must be at least `limit`."""
    return Target("ratio", ">=", limit, "x")


def ratio_at_most(limit: float) -> Target:
    """value / baseline must be at most `limit`."""
    return Target("ratio", "<=", limit, "x")


def value_at_least(limit: float, unit: str) -> Target:
    """The value itself must be at least `limit`."""
    return Target("value", ">=", limit, unit)


def value_at_most(limit: float, unit: str) -> Target:
    """The value itself must be at most `limit`."""
    return Target("value", "<=", limit, unit)


@dataclasses.dataclass(frozen=True)
class Record:
    """One measured figure, as written to `results.json` (`passed` is the `pass` field)."""

    stage: str
    measure: str
    value: float | None
    unit: str
    baseline: float | None
    ratio: float | None
    target: str
    passed: bool | None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        """The record as the JSON object of `results.json`."""
        data = {
            "stage": self.stage,
            "measure": self.measure,
            "value": self.value,
            "unit": self.unit,
            "baseline": self.baseline,
            "ratio": self.ratio,
            "target": self.target,
            "pass": self.passed,
        }
        if self.note:
            data["note"] = self.note
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Record:
        """Reads a record back from its JSON object."""
        return cls(
            stage=data["stage"],
            measure=data["measure"],
            value=data["value"],
            unit=data["unit"],
            baseline=data["baseline"],
            ratio=data["ratio"],
            target=data["target"],
            passed=data["pass"],
            note=data.get("note", ""),
        )


@dataclasses.dataclass(frozen=True)
class Measure:
    """What one record measures: its stage, name, unit and target."""

    stage: str
    name: str
    unit: str
    target: Target = REPORT

    def summarise(
        self,
        values: Sequence[float],
        baselines: Sequence[float] | None = None,
        note: str = "",
    ) -> Record:
        """The record of repeated measurements: medians of values, baselines and ratios.

        Args:
            values: one figure per repeat.
            baselines: the baseline measured beside each value, in the same repeat (or None).
            note: how it was measured and anything that explains the figure.
        """
        if not values:
            raise ValueError(f"{self.stage}/{self.name}: no measurements")
        value = statistics.median(values)
        baseline = ratio = None
        if baselines:
            if len(baselines) != len(values):
                raise ValueError(f"{self.stage}/{self.name}: values and baselines differ in count")
            baseline = statistics.median(baselines)
            ratio = statistics.median(
                v / b if b else math.inf for v, b in zip(values, baselines, strict=True)
            )
        return Record(
            stage=self.stage,
            measure=self.name,
            value=_round(value),
            unit=self.unit,
            baseline=_round(baseline),
            ratio=_round(ratio),
            target=str(self.target),
            passed=self.target.check(value, ratio),
            note=note,
        )

    def failed(self, error: BaseException | str) -> Record:
        """The record of a measure that could not be taken: `pass` false, the error as note."""
        if isinstance(error, BaseException):
            error = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:300]}"
        return self.unmeasured(f"failed: {error}", passed=False)

    def unmeasured(self, note: str, passed: bool | None = None) -> Record:
        """The record of a measure without a figure, saying why in `note`."""
        return Record(
            stage=self.stage,
            measure=self.name,
            value=None,
            unit=self.unit,
            baseline=None,
            ratio=None,
            target=str(self.target),
            passed=passed,
            note=note,
        )


def guarded(measures: Sequence[Measure], measure: Callable[[], list[Record]]) -> list[Record]:
    """Runs `measure`; if it raises, returns a failed record for each of `measures` instead.

    A broken stage must show up in the table, not stop the other stages from running.
    """
    try:
        return measure()
    except Exception as err:  # any failure of the code under test is a result, not a crash
        _LOG.error("%s failed:\n%s", measures[0].stage, traceback.format_exc())
        return [m.failed(err) for m in measures]


def write_json(records: Sequence[Record], path: str) -> None:
    """Writes the records as a JSON list (atomically: a reader never sees half a file)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    partial = f"{path}.partial"
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump([r.to_json() for r in records], handle, indent=2, ensure_ascii=False)
        handle.write("\n")
    os.replace(partial, path)


def read_json(path: str) -> list[Record]:
    """Reads the records of an earlier run; an absent or unreadable file gives none."""
    try:
        with open(path, encoding="utf-8") as handle:
            return [Record.from_json(item) for item in json.load(handle)]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def format_table(records: Sequence[Record]) -> str:
    """The records as a plain-text table, followed by their notes."""
    header = ("stage", "measure", "value", "unit", "baseline", "ratio", "target", "pass")
    rows = [
        (
            r.stage,
            r.measure,
            _show(r.value),
            r.unit,
            _show(r.baseline),
            _show(r.ratio),
            r.target,
            {True: "PASS", False: "FAIL", None: "-"}[r.passed],
        )
        for r in records
    ]
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, tuple("-" * w for w in widths), *rows)
    ]
    notes = [f"- {r.stage} / {r.measure}: {r.note}" for r in records if r.note]
    return "\n".join(lines + (["", "notes:", *notes] if notes else []))


def _round(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None  # JSON has no infinity; `pass` already says what the figure meant
    return float(f"{value:.4g}")


def _show(value: float | None) -> str:
    return "" if value is None else f"{value:g}"
