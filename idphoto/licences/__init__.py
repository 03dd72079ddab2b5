"""Licences: normalising free-text licence strings and judging them by the licence policy."""

from idphoto.licences.normalise import NAMED_CLASSES, Normalised, normalise
from idphoto.licences.policy import (
    CONSENT_MISSING,
    CONSENT_REFUSED,
    DEFAULT_REASON,
    NO_MATCHING_RULE,
    OK,
    ConsentSettings,
    Decision,
    Policy,
    Rule,
    default_policy_path,
    load_policy,
    parse_policy,
    read_policy_text,
)

__all__ = [
    "CONSENT_MISSING",
    "CONSENT_REFUSED",
    "DEFAULT_REASON",
    "NAMED_CLASSES",
    "NO_MATCHING_RULE",
    "OK",
    "ConsentSettings",
    "Decision",
    "Normalised",
    "Policy",
    "Rule",
    "default_policy_path",
    "load_policy",
    "parse_policy",
    "read_policy_text",
    "normalise",
]
