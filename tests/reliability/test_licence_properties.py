"""Properties of the licence normaliser and policy over arbitrary and adversarial text."""

import re
import string

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from idphoto import config
from idphoto.config import ConfigError
from idphoto.licences import Policy, load_policy, normalise

POLICY = load_policy()
USES = POLICY.uses
# Classes no photo may be trained on commercially, whatever a policy edit or the text says.
NEVER_COMMERCIAL = {
    "cc-by-nc",
    "cc-by-nc-sa",
    "cc-by-nd",
    "unknown",
    "empty",
    "all-rights-reserved",
}
_REASON = re.compile(r"[a-z][a-z0-9_]*")


def _allowed_classes(policy: Policy, use: str) -> set[str]:
    return {rule.licence_class for rule in policy.rules if use in rule.allow}


def _verdict(decision):
    return (decision.allowed, decision.reason, decision.spdx, decision.licence_class,
            decision.obligations)  # fmt: skip


# --- any text -----------------------------------------------------------------------------------

_ANY_TEXT = st.one_of(
    st.text(),
    st.binary().map(lambda b: b.decode("utf-8", "surrogateescape")),  # undecodable CSV bytes
    st.text(alphabet="()ORANDor and with,;|©-/ ", max_size=60),
)


@settings(max_examples=400, deadline=None)
@given(text=_ANY_TEXT, consent=st.sampled_from([None, True, False]))
@example(text="(" * 2000 + "cc by" + ")" * 2000, consent=True)  # was a RecursionError
@example(text="cc by or " * 20_000, consent=True)
def test_any_text_is_judged_for_every_use_without_raising(text, consent):
    normalise(text)
    for use in USES:
        decision = POLICY.judge(text, use, consent)
        assert _REASON.fullmatch(decision.reason)
        assert decision.allowed == (decision.reason == "ok")
        if decision.allowed:
            assert decision.licence_class in _allowed_classes(POLICY, use)
            assert consent is not False
        else:
            assert decision.obligations == ()
        if use == "commercial" and decision.allowed:
            assert decision.licence_class not in NEVER_COMMERCIAL
            assert "non-commercial" not in decision.obligations
            assert consent is True  # consent is required for commercial use


# --- text that states a restriction -------------------------------------------------------------

_NAMES = [
    "CC BY 4.0", "CC BY-SA 2.0", "Attribution License", "Attribution 4.0 International",
    "CC0", "CC0 1.0 Universal", "Public Domain", "Public Domain Mark", "PD-USGov",
    "GNU Free Documentation License", "No known copyright restrictions",
    "https://creativecommons.org/licenses/by/4.0/", "creativecommons.org/publicdomain/zero/1.0",
    "by", "cc-by", "CC-BY-4.0", "© 2019 Jane Doe", "(c) Jane Doe", "Copyright 2020 ACME",
]  # fmt: skip
_NON_COMMERCIAL = [
    "NC", "NonCommercial", "Non-Commercial", "non commercial", "no commercial use",
    "not for commercial use", "nc only", "by-nc", "CC BY-NC 4.0", "Attribution-NonCommercial",
    "https://creativecommons.org/licenses/by-nc/2.0/",
]  # fmt: skip
_NO_DERIVATIVES = [
    "ND", "NoDerivs", "NoDerivatives", "No Derivative Works", "no derivatives", "by-nd",
    "CC BY-ND 4.0", "https://creativecommons.org/licenses/by-nd/4.0/",
]  # fmt: skip
_GLUE = [" ", ", ", "; ", " - ", " / ", " | ", "-", " (", ") ", " with ", " and "]


def _stating(restrictions):
    """Licence-like text built around at least one restriction; never an "or" alternative."""
    return st.lists(st.tuples(st.sampled_from(_GLUE), st.sampled_from(_NAMES)), max_size=3).flatmap(
        lambda parts: st.tuples(
            st.sampled_from(restrictions), st.sampled_from(_GLUE), st.integers(0, len(parts))
        ).map(
            lambda r: (
                "".join(g + n for g, n in parts[: r[2]])
                + r[1]
                + r[0]
                + "".join(g + n for g, n in parts[r[2] :])
            )
        )
    )


@settings(max_examples=400, deadline=None)
@given(text=_stating(_NON_COMMERCIAL))
@example(text="CC BY 4.0 (non-commercial use only)")  # was accepted as CC BY
@example(text="© 2019 Jane Doe, CC BY 4.0, NonCommercial")  # was accepted as CC BY
@example(text="CC0 (NC)")
def test_text_stating_non_commercial_is_never_allowed_for_commercial_use(text):
    assert not re.search(r"\bor\b", text.lower())
    decision = POLICY.judge(text, "commercial", consent=True)
    assert not decision.allowed, (text, normalise(text))


@settings(max_examples=400, deadline=None)
@given(text=_stating(_NO_DERIVATIVES))
@example(text="CC BY-SA (no derivatives)")  # was accepted as CC BY-SA
@example(text="CC0 (CC BY-ND)")  # was accepted as CC0
def test_text_stating_no_derivatives_is_never_allowed_for_any_use(text):
    for use in USES:
        assert not POLICY.judge(text, use, consent=True).allowed, (text, use, normalise(text))


# --- spellings of the same licence --------------------------------------------------------------

_CC_PATHS = [
    "licenses/by/4.0", "licenses/by/2.0", "licenses/by-sa/4.0", "licenses/by-sa/3.0/de",
    "licenses/by-nc/2.0", "licenses/by-nc-sa/4.0", "licenses/by-nd/4.0", "licenses/by-nc-nd/3.0",
    "licenses/by/3.0/igo", "publicdomain/zero/1.0", "publicdomain/mark/1.0",
]  # fmt: skip
_DEED_SUFFIXES = ["", "/deed.en", "/deed.pt_BR", "/deed.zh-hans", "/legalcode", "/legalcode.fr"]
_SPACE = st.text(alphabet=" \t\n\r\u00a0\u2003\u3000\ufeff\u200b", max_size=4)


def _recased(text, flips):
    flips = (flips + [False] * len(text))[: len(text)]
    return "".join(c.swapcase() if flip else c for c, flip in zip(text, flips, strict=True))


@settings(max_examples=300, deadline=None)
@given(
    path=st.sampled_from(_CC_PATHS),
    scheme=st.sampled_from(["", "http://", "https://", "HTTPS://"]),
    www=st.booleans(),
    suffix=st.sampled_from(_DEED_SUFFIXES),
    slash=st.booleans(),
    flips=st.lists(st.booleans(), max_size=80),
    before=_SPACE,
    after=_SPACE,
)
def test_creative_commons_url_is_judged_the_same_however_it_is_written(
    path, scheme, www, suffix, slash, flips, before, after
):
    canonical = f"https://creativecommons.org/{path}/"
    written = f"{scheme}{'www.' if www else ''}creativecommons.org/{path}{suffix}"
    written = before + _recased(written + ("/" if slash else ""), flips) + after
    assert normalise(written) == normalise(canonical)
    for use in USES:
        assert _verdict(POLICY.judge_licence(written, use)) == _verdict(
            POLICY.judge_licence(canonical, use)
        )


_NAMED = [
    "CC BY-NC 2.0", "Attribution-NonCommercial License", "Attribution-NoDerivs License",
    "CC BY-SA 4.0", "Public Domain Mark", "All Rights Reserved", "CC0", "PD-USGov-NASA",
    "GFDL 1.2", "No known copyright restrictions", "", "asdf",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    text=st.sampled_from(_NAMED),
    flips=st.lists(st.booleans(), max_size=40),
    before=_SPACE,
    after=_SPACE,
    quote=st.sampled_from(["", '"', "'", "\u201c"]),
)
def test_licence_name_is_judged_the_same_whatever_its_case_and_surrounding_space(
    text, flips, before, after, quote
):
    closing = {"\u201c": "\u201d"}.get(quote, quote)
    written = before + quote + _recased(text, flips) + closing + after
    for use in USES:
        assert _verdict(POLICY.judge_licence(written, use)) == _verdict(
            POLICY.judge_licence(text, use)
        )


# --- policy files -------------------------------------------------------------------------------


def _policy_data():
    return config.read_yaml(config.config_dir() / "licence_policy.yaml")


_YAML_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=6) | st.integers(), inner, max_size=3)
    ),
    max_leaves=8,
)
_POLICY_KEYS = [
    ("uses",), ("consent",), ("consent", "required_for"), ("rules",), ("rules", 0),
    ("rules", 0, "match"), ("rules", 0, "allow"), ("rules", 3, "reason"),
    ("rules", 5, "obligations"), ("rules", 11, "licence_class"), ("extra",),
]  # fmt: skip


def _load_text(folder, text: bytes):
    path = folder / "policy.yaml"
    path.write_bytes(text)
    try:
        return load_policy(path)
    except ConfigError as err:
        assert "\n" not in str(err), str(err)
        return None


@settings(max_examples=100, deadline=None)
@given(key=st.sampled_from(_POLICY_KEYS), value=_YAML_VALUE, licence=st.sampled_from(_NAMED))
def test_edited_policy_loads_or_fails_in_one_line_and_never_allows_a_class_it_does_not(
    tmp_path_factory, key, value, licence
):
    data = _policy_data()
    target = data
    for part in key[:-1]:
        target = target[part]
    target[key[-1]] = value
    policy = _load_text(tmp_path_factory.getbasetemp(), yaml.safe_dump(data).encode())
    if policy is None:
        return
    for use in policy.uses:
        decision = policy.judge_licence(licence, use)
        if decision.allowed:
            assert decision.licence_class in _allowed_classes(policy, use)


@settings(max_examples=150, deadline=None)
@given(
    data=st.binary(max_size=300) | st.text(alphabet=string.printable + "é\u00ff").map(str.encode)
)
def test_arbitrary_policy_file_bytes_load_or_fail_in_one_line(tmp_path_factory, data):
    _load_text(tmp_path_factory.getbasetemp(), data)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("uses: [research]\n# caf\xe9\n".encode("latin-1"), "not UTF-8"),
        (b"[" * 800 + b"]" * 800, "nested too deeply"),
        (b"uses: [research]\n1: x\n", "key 1 must be text"),
        (
            b"uses: [r]\nconsent: {required_for: []}\nrules: [{licence_class: x, 3: y}]\n",
            "rules[0]",
        ),
    ],
)
def test_malformed_policy_file_is_a_config_error_naming_the_problem(tmp_path, text, message):
    path = tmp_path / "policy.yaml"
    path.write_bytes(text)
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    assert message in str(info.value) and "\n" not in str(info.value)
