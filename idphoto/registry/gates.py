"""The promotion gates, as plain functions of figures: quality, licence and near-copy.

Each returns a GateResult whose `figure` is the one line a refusal prints, so a user sees what
was measured and against which threshold.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

from idphoto.registry.config import NearCopyConfig, QualityConfig
from idphoto.registry.nearcopy import Match
from idphoto.tracking.lineage import Violation

PASSED = "passed"
FAILED = "failed"
FORCED = "forced"
GATES = ("quality", "licence", "near_copy")  # every promotion evaluates all three


@dataclasses.dataclass(frozen=True)
class GateResult:
    """One gate's verdict.

    Attributes:
        name: `quality`, `licence` or `near_copy`.
        status: `passed`, `failed`, or `forced` (a failed quality gate overridden with a reason).
        figure: what was measured against what, in one line.
    """

    name: str
    status: str
    figure: str

    @property
    def ok(self) -> bool:
        """Whether the gate lets the promotion through."""
        return self.status != FAILED


def quality_gate(
    metrics: Mapping[str, float],
    cfg: QualityConfig,
    holder_swd: float | None,
    force_reason: str | None = None,
) -> GateResult:
    """SWD and ID-compliance thresholds, and a better SWD than the alias holder's.

    Args:
        metrics: the run's latest metrics (`swd`, `id_compliance`).
        cfg: the thresholds.
        holder_swd: the SWD of the version the alias points at, or None when there is none.
        force_reason: a user's reason to promote despite a failed quality gate.
    """
    swd, compliance = metrics.get("swd"), metrics.get("id_compliance")
    if swd is None or compliance is None:
        return GateResult("quality", FAILED, "the run logged no swd/id_compliance evaluation")
    if not (math.isfinite(swd) and math.isfinite(compliance)):  # a diverged run: NaN or inf
        return GateResult("quality", FAILED, f"swd {swd} / id_compliance {compliance} not finite")
    failures = []
    if swd > cfg.max_swd:
        failures.append(f"swd {swd:.4g} > {cfg.max_swd:.4g}")
    if compliance < cfg.min_id_compliance:
        failures.append(f"id_compliance {compliance:.3f} < {cfg.min_id_compliance:.3f}")
    if cfg.beat_current and holder_swd is not None and not swd < holder_swd:
        failures.append(f"swd {swd:.4g} does not beat the alias holder's {holder_swd:.4g}")
    if not failures:
        holder = f", holder {holder_swd:.4g}" if holder_swd is not None else ""
        figure = f"swd {swd:.4g} <= {cfg.max_swd:.4g}{holder}; id_compliance {compliance:.3f}"
        return GateResult("quality", PASSED, figure + f" >= {cfg.min_id_compliance:.3f}")
    if force_reason:
        return GateResult("quality", FORCED, "; ".join(failures) + f" (forced: {force_reason})")
    return GateResult("quality", FAILED, "; ".join(failures))


def licence_gate(use: str, accepted_rows: int, found: Sequence[Violation]) -> GateResult:
    """Every training row must be allowed for `use` under the policy."""
    if accepted_rows == 0:
        return GateResult("licence", FAILED, "the run's lineage holds no training rows")
    if not found:
        return GateResult("licence", PASSED, f"all {accepted_rows} training rows allow {use} use")
    by_reason: dict[str, int] = {}
    for violation in found:
        by_reason[violation.reason] = by_reason.get(violation.reason, 0) + 1
    reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(by_reason.items()))
    examples = ", ".join(v.id for v in found[:3])
    return GateResult(
        "licence",
        FAILED,
        f"{len(found)} of {accepted_rows} training rows are not allowed for {use} use "
        f"({reasons}; e.g. {examples})",
    )


def licence_gate_under_two_policies(
    use: str,
    accepted_rows: int,
    dataset_found: Sequence[Violation],
    other_found: Sequence[Violation],
    other_name: str,
) -> GateResult:
    """The licence gate when the user names a policy other than the dataset's: both decide.

    The gate passes only when both policies allow every training row; the figure shows both
    decisions and names the rows on which they differ.
    """
    under_dataset = licence_gate(use, accepted_rows, dataset_found)
    under_other = licence_gate(use, accepted_rows, other_found)
    dataset_ids = {v.id for v in dataset_found}
    other_ids = {v.id for v in other_found}
    differences = [
        f"{len(ids)} rejected only by {who} (e.g. {', '.join(sorted(ids)[:3])})"
        for who, ids in (
            ("the dataset's policy", dataset_ids - other_ids),
            (other_name, other_ids - dataset_ids),
        )
        if ids
    ]
    difference = "; ".join(differences) or "the two policies agree on every training row"
    status = PASSED if under_dataset.ok and under_other.ok else FAILED
    return GateResult(
        "licence",
        status,
        f"dataset's policy: {under_dataset.status}, {under_dataset.figure} | "
        f"{other_name}: {under_other.status}, {under_other.figure} | difference: {difference}",
    )


def near_copy_gate(matches: Sequence[Match], cfg: NearCopyConfig, photo_ids: Sequence[str]):
    """No sample may be nearer to one training photo than `max_ratio` of its neighbours."""
    if not matches:
        return GateResult("near_copy", FAILED, "no samples were compared")
    broken = [m for m in matches if not math.isfinite(m.ratio)]
    if broken:  # NaN images cannot be compared, so they cannot be cleared either
        return GateResult("near_copy", FAILED, f"{len(broken)} samples could not be compared (NaN)")
    closest = min(matches, key=lambda m: m.ratio)
    copies = [m for m in matches if m.ratio < cfg.max_ratio]
    where = f"sample {closest.sample} ~ photo {photo_ids[closest.training]}"
    figure = (
        f"{len(copies)} of {len(matches)} samples below ratio {cfg.max_ratio:.2f}; "
        f"closest {closest.ratio:.3f} ({where})"
    )
    return GateResult("near_copy", FAILED if copies else PASSED, figure)
