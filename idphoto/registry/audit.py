"""Registry audit: every alias must name a version that passed every gate for that alias.

MLflow lets anyone with write access move an alias (the UI's pencil, the client API) and runs
no gate when it does. `idphoto promote` records each promotion on the version it registers:
`idphoto.gate.<use>.<gate>` per gate, `idphoto.gate.<use>.alias`, and the lineage summary. The
audit reads those tags back for every alias holder; a holder without a passing record for its
alias was put there by hand. With `fix`, the alias moves back to the newest version that does
have one (or is removed when none does), and the version it left records why.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping

from mlflow.tracking import MlflowClient

from idphoto.registry.gates import FORCED, GATES, PASSED
from idphoto.tracking import tags

AUDIT_PREFIX = "idphoto.audit."


@dataclasses.dataclass(frozen=True)
class AliasCheck:
    """The audit of one alias.

    Attributes:
        model: the registered model.
        alias: the alias.
        version: the version the alias named when the audit ran.
        uses: the uses the version passed every gate for under this alias.
        problem: why the holder fails the audit; empty when it passes.
        fixed_to: with `fix`: the version the alias now names, or "" when it was removed.
    """

    model: str
    alias: str
    version: str
    uses: tuple[str, ...]
    problem: str = ""
    fixed_to: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the holder carries a passing gate record for the alias."""
        return not self.problem


def passing_uses(version_tags: Mapping[str, str], alias: str) -> tuple[str, ...]:
    """The uses for which a version's tags record a promotion to `alias` with every gate
    passed (quality may be forced with a recorded reason)."""
    uses = sorted(
        key[len(tags.GATE_PREFIX) : -len(".alias")]
        for key, value in version_tags.items()
        if key.startswith(tags.GATE_PREFIX) and key.endswith(".alias") and value == alias
    )
    # Only the quality gate can be forced (with a recorded reason); the others must pass.
    allowed = {name: (PASSED, FORCED) if name == "quality" else (PASSED,) for name in GATES}
    return tuple(
        use
        for use in uses
        if all(version_tags.get(tags.gate(use, name)) in allowed[name] for name in GATES)
    )


def problem_of(version_tags: Mapping[str, str], alias: str) -> str:
    """Why a version may not hold `alias`; empty when it may."""
    if not passing_uses(version_tags, alias):
        return "no passing gate record for this alias (moved without `idphoto promote`?)"
    if not version_tags.get(tags.CONTENT_SHA256):
        return "no lineage summary (the dataset it was trained on is not recorded)"
    return ""


def audit(client: MlflowClient, model: str | None = None, fix: bool = False) -> list[AliasCheck]:
    """Checks every alias of every registered model (or of `model`).

    Args:
        client: the tracking client.
        model: one registered model's name; None audits all.
        fix: move each failing alias back to the newest version that passes, or remove it.

    Returns:
        One check per alias, by model and alias.
    """
    checks = []
    for registered in sorted(client.search_registered_models(), key=lambda m: m.name):
        if model is not None and registered.name != model:
            continue
        for alias, version in sorted((registered.aliases or {}).items()):
            holder = client.get_model_version(registered.name, version)
            check = AliasCheck(
                registered.name,
                alias,
                str(version),
                passing_uses(holder.tags, alias),
                problem_of(holder.tags, alias),
            )
            if fix and not check.ok:
                check = _fix(client, check)
            checks.append(check)
    return checks


def _fix(client: MlflowClient, check: AliasCheck) -> AliasCheck:
    versions = client.search_model_versions(f"name='{check.model}'")
    passing = [
        v
        for v in versions
        if str(v.version) != check.version and not problem_of(v.tags, check.alias)
    ]
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    if passing:
        target = str(max(int(v.version) for v in passing))
        client.set_registered_model_alias(check.model, check.alias, target)
        action = f"moved back to version {target}"
    else:
        target = ""
        client.delete_registered_model_alias(check.model, check.alias)
        action = "removed: no version passed its gates for it"
    client.set_model_version_tag(
        check.model,
        check.version,
        f"{AUDIT_PREFIX}{check.alias}",
        f"{now}: alias {action}; this version had {check.problem}",
    )
    return dataclasses.replace(check, fixed_to=target)


def describe(checks: list[AliasCheck]) -> str:
    """The lines `idphoto registry audit` prints."""
    lines = []
    for c in checks:
        name = f"{c.model}@{c.alias} -> version {c.version}"
        if c.ok:
            lines.append(f"ok      {name} (gates passed for {', '.join(c.uses)} use)")
            continue
        lines.append(f"FAILED  {name}: {c.problem}")
        if c.fixed_to is not None:
            done = f"moved back to version {c.fixed_to}" if c.fixed_to else "removed"
            lines.append(f"        fixed: alias {c.alias} {done}")
    failed = sum(not c.ok for c in checks)
    lines.append(f"{len(checks)} alias(es) audited, {failed} failed")
    return "\n".join(lines)
