"""Judges a licence string for an intended use, by the rules of `configs/licence_policy.yaml`.

The YAML file is the policy; this module only loads it into frozen dataclasses, checks it, and
applies it to normalised licences (see `normalise`). It holds no second copy of the decisions.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import re
from pathlib import Path
from typing import NamedTuple

from license_expression import AND, OR, LicenseWithExceptionSymbol, Licensing

from idphoto import config
from idphoto.config import ConfigError
from idphoto.errors import UserError
from idphoto.licences.normalise import UNKNOWN, normalise

POLICY_FILE = "licence_policy.yaml"

# Reasons the code itself gives; every other reject reason comes from a rule in the policy file.
OK = "ok"
CONSENT_REFUSED = "consent_refused"
CONSENT_MISSING = "consent_missing"
NO_MATCHING_RULE = "no_matching_rule"  # only when a policy file has no catch-all rule
DEFAULT_REASON = "use_not_allowed"  # for a rule that rejects a use and names no reason

_REASON = re.compile(r"[a-z][a-z0-9_]*")
_EXPRESSIONS = Licensing()  # parses `Normalised.name`: SPDX ids and class names alike


@dataclasses.dataclass(frozen=True)
class ConsentSettings:
    """When the consent of the person pictured must be known.

    Attributes:
        required_for: uses for which a photo without a consent value is rejected.
    """

    required_for: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Rule:
    """One row of the policy: which normalised licences it covers and what they allow.

    Attributes:
        licence_class: the class reported for licences this rule matches (`cc-by-nc`).
        match: regular expressions, each matched case-insensitively against a whole SPDX id or
            class name.
        allow: the uses this class may be trained for.
        obligations: what an accepted photo of this class carries into the lineage.
        reason: the reject reason for a use not in `allow`.
    """

    licence_class: str
    match: tuple[str, ...]
    allow: tuple[str, ...]
    obligations: tuple[str, ...] = ()
    reason: str = DEFAULT_REASON

    @functools.cached_property
    def _pattern(self) -> re.Pattern[str]:
        return re.compile("|".join(f"(?:{p})" for p in self.match), re.IGNORECASE)

    def matches(self, name: str) -> bool:
        """Whether this rule covers the SPDX id or class name `name`."""
        return self._pattern.fullmatch(name) is not None


@dataclasses.dataclass(frozen=True)
class Decision:
    """The policy's verdict on one licence for one use.

    Attributes:
        allowed: whether a photo under this licence may be used.
        reason: `ok` when allowed, else a snake_case code (`non_commercial`, `consent_missing`...).
        spdx: the canonical SPDX id or expression, or None for a named class.
        licence_class: the class of the first matching rule; for an expression, of the part that
            was chosen (`A OR B`) or that failed.
        obligations: what the accepted photo carries into the lineage; empty when rejected.
    """

    allowed: bool
    reason: str
    spdx: str | None
    licence_class: str
    obligations: tuple[str, ...]


class _Verdict(NamedTuple):
    allowed: bool
    reason: str
    licence_class: str
    obligations: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Policy:
    """The licence policy: the intended uses, the consent settings and the ordered rules."""

    uses: tuple[str, ...]
    default_use: str  # the use of every command run without `--use`
    consent: ConsentSettings
    rules: tuple[Rule, ...]

    @functools.cached_property
    def digest(self) -> str:
        """The sha256 of the policy's content (not of its file's comments or layout)."""
        canonical = json.dumps(config.to_dict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def check_use(self, use: str) -> None:
        """Raises UserError, listing the valid uses, when `use` is not one of the policy's uses."""
        if use not in self.uses:
            raise UserError(f"unknown use {use!r}; valid uses: {', '.join(self.uses)}")

    def rule_for(self, name: str) -> Rule | None:
        """The first rule matching one SPDX id or class name, or None."""
        return next((rule for rule in self.rules if rule.matches(name)), None)

    def judge(self, licence: str, use: str, consent: bool | None = None) -> Decision:
        """Decides whether a photo under `licence`, of a person with `consent`, may be used.

        The licence is judged first and its rejection is the one reported: a CC BY-ND photo
        whose subject refused consent is rejected as `no_derivatives`, since no consent could
        make it usable. Only a licence that allows the use is then checked for consent:
        `consent=False` is always rejected (`consent_refused`); `consent=None` (unknown) is
        rejected (`consent_missing`) for the uses in `consent.required_for`.

        Args:
            licence: the licence string as found at the source.
            use: one of `uses`.
            consent: whether the person pictured agreed to this use; None when unknown.

        Raises:
            UserError: `use` is not one of the policy's uses.
        """
        decision = self.judge_licence(licence, use)
        if not decision.allowed:
            return decision
        if consent is None:
            if use in self.consent.required_for:
                return _rejected(decision, CONSENT_MISSING)
        elif not consent:
            return _rejected(decision, CONSENT_REFUSED)
        return decision

    def judge_licence(self, licence: str, use: str) -> Decision:
        """Decides whether `licence` allows `use`, leaving consent aside.

        Raises:
            UserError: `use` is not one of the policy's uses.
        """
        self.check_use(use)
        normalised = normalise(licence)
        if " " in normalised.name:  # an expression; single ids and class names have no spaces
            verdict = self._judge_expression(_parse_expression(normalised.name), use)
        else:
            verdict = self._judge_name(normalised.name, use)
        return Decision(
            allowed=verdict.allowed,
            reason=verdict.reason,
            spdx=normalised.spdx,
            licence_class=verdict.licence_class,
            obligations=verdict.obligations,
        )

    def _judge_expression(self, node, use: str) -> _Verdict:
        if isinstance(node, LicenseWithExceptionSymbol):
            return self._judge_name(node.license_symbol.key, use)  # an exception only adds rights
        if isinstance(node, OR):  # the licensee chooses: the first allowed part
            verdicts = [self._judge_expression(arg, use) for arg in node.args]
            return next((v for v in verdicts if v.allowed), verdicts[0])
        if isinstance(node, AND):  # every part applies at once
            verdicts = [self._judge_expression(arg, use) for arg in node.args]
            failed = next((v for v in verdicts if not v.allowed), None)
            if failed is not None:
                return failed
            obligations = tuple(dict.fromkeys(o for v in verdicts for o in v.obligations))
            return verdicts[0]._replace(obligations=obligations)
        return self._judge_name(node.key, use)

    def _judge_name(self, name: str, use: str) -> _Verdict:
        rule = self.rule_for(name)
        if rule is None:
            return _Verdict(False, NO_MATCHING_RULE, UNKNOWN, ())
        if use in rule.allow:
            return _Verdict(True, OK, rule.licence_class, rule.obligations)
        return _Verdict(False, rule.reason, rule.licence_class, ())


def default_policy_path() -> Path:
    """The project's licence policy file."""
    return config.config_dir() / POLICY_FILE


def read_policy_text(path: str | os.PathLike | None = None) -> str:
    """The text of a policy file (the project's by default), as ingest copies it into datasets.

    Raises:
        ConfigError: the file cannot be read or is not UTF-8 text.
    """
    path = Path(path) if path is not None else default_policy_path()
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read config {path}: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path} is not UTF-8 text (bad byte at offset {err.start})") from None


def load_policy(path: str | os.PathLike | None = None) -> Policy:
    """Loads and checks a licence policy file.

    Args:
        path: the YAML file; by default `licence_policy.yaml` in the configs folder.

    Raises:
        ConfigError: the file is missing or malformed; the message names the offending key.
    """
    path = Path(path) if path is not None else default_policy_path()
    return parse_policy(read_policy_text(path), path)


def parse_policy(text: str, source: str | os.PathLike) -> Policy:
    """Checks policy text and builds the `Policy`; `source` names it in errors.

    Raises:
        ConfigError: the text is malformed; the message names the offending key.
    """
    data = _parse_policy_text(text, source)
    try:
        policy = config.from_dict(Policy, data)
        _check(policy)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None
    return policy


def _parse_policy_text(text: str, source: str | os.PathLike) -> dict:
    # A policy file is user input: YAML nested past Python's recursion limit and keys that are
    # not text must be ConfigErrors too, not tracebacks.
    try:
        data = config.parse_yaml(text, source)
    except RecursionError:
        raise ConfigError(f"{source} is nested too deeply to be a policy") from None
    mappings = [("", data), ("consent.", data.get("consent"))]
    rules = data.get("rules")
    if isinstance(rules, list):
        mappings += [(f"rules[{i}].", rule) for i, rule in enumerate(rules)]
    for where, mapping in mappings:
        for key in mapping if isinstance(mapping, dict) else ():
            if not isinstance(key, str):
                raise ConfigError(f"{source}: key {where}{key!r} must be text")
    return data


def _check(policy: Policy) -> None:
    if not policy.uses:
        raise ConfigError("'uses' must name at least one use")
    _check_use(policy, policy.default_use, "default_use")
    for i, use in enumerate(policy.consent.required_for):
        _check_use(policy, use, f"consent.required_for[{i}]")
    if not policy.rules:
        raise ConfigError("'rules' must hold at least one rule")
    for i, rule in enumerate(policy.rules):
        key = f"rules[{i}]"
        if not rule.match:
            raise ConfigError(f"'{key}.match' must hold at least one pattern")
        for j, pattern in enumerate(rule.match):
            try:
                re.compile(pattern)
            except re.error as err:
                raise ConfigError(f"'{key}.match[{j}]' is not a valid pattern: {err}") from None
        for j, use in enumerate(rule.allow):
            _check_use(policy, use, f"{key}.allow[{j}]")
        if not _REASON.fullmatch(rule.reason) or rule.reason == OK:
            raise ConfigError(f"'{key}.reason' must be a snake_case code, got {rule.reason!r}")


def _check_use(policy: Policy, use: str, key: str) -> None:
    if use not in policy.uses:
        raise ConfigError(f"'{key}' names unknown use {use!r}; uses are {', '.join(policy.uses)}")


def _rejected(decision: Decision, reason: str) -> Decision:
    return dataclasses.replace(decision, allowed=False, reason=reason, obligations=())


@functools.lru_cache(maxsize=1024)
def _parse_expression(name: str):
    return _EXPRESSIONS.parse(name)
