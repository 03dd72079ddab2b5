import pickle
import subprocess
import sys

import pytest
import yaml

from idphoto.config import ConfigError, config_dir
from idphoto.errors import UserError
from idphoto.licences import Decision, load_policy


@pytest.fixture(scope="module")
def policy():
    return load_policy()


def _policy_with(tmp_path, edit):
    """Writes the default policy, changed by `edit(data)`, to a temporary file and loads it."""
    data = yaml.safe_load((config_dir() / "licence_policy.yaml").read_text())
    edit(data)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _rule(data, licence_class):
    return next(r for r in data["rules"] if r["licence_class"] == licence_class)


# The contract's table: licence, class, research, commercial, obligations of an accepted photo.
BY = ("attribution",)
BY_SA = ("attribution", "share-alike")
BY_NC = ("attribution", "non-commercial")
BY_NC_SA = ("attribution", "share-alike", "non-commercial")
ND, NC, ARR = "no_derivatives", "non_commercial", "all_rights_reserved"
CONTRACT_TABLE = [
    ("CC0 1.0 Universal", "public-domain", "ok", "ok", ()),
    ("Public Domain Mark", "public-domain", "ok", "ok", ()),
    ("Public Domain", "public-domain", "ok", "ok", ()),
    ("United States Government Work", "us-government-work", "ok", "ok", ()),
    ("No known copyright restrictions", "no-known-restrictions", "ok", "ok", ()),
    ("Attribution License", "cc-by", "ok", "ok", BY),
    ("CC BY 4.0", "cc-by", "ok", "ok", BY),
    ("CC BY 3.0 IGO", "cc-by", "ok", "ok", BY),
    ("CC BY 2.5 Spain", "cc-by", "ok", "ok", BY),
    ("CC-BY-3.0-DE", "cc-by", "ok", "ok", BY),
    ("CC BY-SA 2.0", "cc-by-sa", "ok", "ok", BY_SA),
    ("CC BY-SA 3.0 DE", "cc-by-sa", "ok", "ok", BY_SA),
    ("GFDL 1.3", "gfdl", "ok", "ok", BY_SA),
    ("Attribution-NonCommercial License", "cc-by-nc", "ok", NC, BY_NC),
    ("CC BY-NC-SA 3.0 IGO", "cc-by-nc-sa", "ok", NC, BY_NC_SA),
    ("Attribution-NoDerivs License", "cc-by-nd", ND, ND, ()),
    ("CC BY-NC-ND 4.0", "cc-by-nd", ND, ND, ()),
    ("https://creativecommons.org/licenses/by-nd-nc/1.0/", "cc-by-nd", ND, ND, ()),
    ("All Rights Reserved", "all-rights-reserved", ARR, ARR, ()),
    ("© 2019 Jane Doe", "all-rights-reserved", ARR, ARR, ()),
    ("", "empty", "empty_licence", "empty_licence", ()),
    ("licence: ???", "unknown", "unknown_licence", "unknown_licence", ()),
    ("MIT", "unknown", "unknown_licence", "unknown_licence", ()),
]


@pytest.mark.parametrize("use", ["research", "commercial"])
@pytest.mark.parametrize(
    ("licence", "licence_class", "research", "commercial", "obligations"),
    CONTRACT_TABLE,
    ids=[row[0] or "<empty>" for row in CONTRACT_TABLE],
)
def test_default_policy_follows_the_contract_table(
    policy, use, licence, licence_class, research, commercial, obligations
):
    reason = research if use == "research" else commercial
    decision = policy.judge(licence, use, consent=True)
    assert (decision.allowed, decision.reason, decision.licence_class) == (
        reason == "ok",
        reason,
        licence_class,
    )
    assert decision.obligations == (obligations if reason == "ok" else ())


def test_nc_photo_is_rejected_for_commercial_use(policy):
    decision = policy.judge("CC BY-NC 2.0", "commercial", consent=True)
    assert decision == Decision(False, "non_commercial", "CC-BY-NC-2.0", "cc-by-nc", ())


def test_accepted_photo_reports_its_spdx_id_and_obligations(policy):
    decision = policy.judge("CC BY-SA 2.0", "commercial", consent=True)
    assert decision == Decision(True, "ok", "CC-BY-SA-2.0", "cc-by-sa", BY_SA)


def test_refused_consent_is_rejected_for_every_use(policy):
    for use in ("research", "commercial"):
        decision = policy.judge("CC0-1.0", use, consent=False)
        assert (decision.allowed, decision.reason) == (False, "consent_refused")
        assert decision.spdx == "CC0-1.0" and decision.licence_class == "public-domain"


def test_missing_consent_is_rejected_for_commercial_use(policy):
    decision = policy.judge("CC BY 2.0", "commercial", consent=None)
    assert (decision.allowed, decision.reason, decision.obligations) == (
        False,
        "consent_missing",
        (),
    )


def test_missing_consent_is_accepted_for_research_use(policy):
    assert policy.judge("CC BY 2.0", "research", consent=None).allowed


def test_licence_rejection_is_reported_before_refused_consent(policy):
    decision = policy.judge("CC BY-ND 4.0", "research", consent=False)
    assert decision.reason == "no_derivatives"


def test_licence_rejection_is_reported_before_missing_consent(policy):
    assert policy.judge("by-nc", "commercial", consent=None).reason == "non_commercial"


def test_judge_licence_leaves_consent_aside(policy):
    assert policy.judge_licence("CC BY 2.0", "commercial").allowed


def test_or_expression_is_allowed_when_any_part_is_and_uses_that_part(policy):
    decision = policy.judge("CC-BY-NC-2.0 OR CC-BY-SA-2.0", "commercial", consent=True)
    assert decision == Decision(True, "ok", "CC-BY-NC-2.0 OR CC-BY-SA-2.0", "cc-by-sa", BY_SA)


def test_or_expression_uses_the_first_allowed_part(policy):
    decision = policy.judge("CC-BY-NC-2.0 OR CC0-1.0", "research", consent=True)
    assert decision.licence_class == "cc-by-nc"
    assert decision.obligations == ("attribution", "non-commercial")


def test_or_expression_with_no_allowed_part_reports_the_first_part(policy):
    decision = policy.judge("CC-BY-ND-4.0 OR CC-BY-NC-4.0", "commercial", consent=True)
    assert (decision.allowed, decision.reason, decision.licence_class) == (
        False,
        "no_derivatives",
        "cc-by-nd",
    )


def test_and_expression_is_allowed_only_when_every_part_is(policy):
    assert not policy.judge("CC-BY-2.0 AND CC-BY-NC-2.0", "commercial", True).allowed
    decision = policy.judge("CC-BY-2.0 AND CC-BY-ND-2.0", "research", True)
    assert (decision.reason, decision.licence_class) == ("no_derivatives", "cc-by-nd")


def test_and_expression_carries_the_obligations_of_every_part(policy):
    decision = policy.judge("CC0-1.0 AND CC-BY-SA-4.0 AND CC-BY-NC-2.0", "research", True)
    assert decision.allowed
    assert decision.obligations == ("attribution", "share-alike", "non-commercial")


def test_nested_expression_is_judged_part_by_part(policy):
    licence = "(CC-BY-ND-4.0 OR CC-BY-2.0) AND (CC-BY-NC-4.0 OR GFDL-1.3)"
    decision = policy.judge(licence, "commercial", True)
    assert (decision.allowed, decision.licence_class, decision.obligations) == (
        True,
        "cc-by",
        BY_SA,
    )


def test_with_exception_is_judged_as_its_base_licence(policy):
    decision = policy.judge("CC-BY-NC-2.0 WITH Classpath-exception-2.0", "commercial", True)
    assert (decision.reason, decision.licence_class) == ("non_commercial", "cc-by-nc")


def test_free_text_expression_mixing_a_class_is_judged(policy):
    decision = policy.judge("CC BY-NC 2.0 or Public Domain", "commercial", True)
    assert (decision.allowed, decision.spdx, decision.licence_class) == (
        True,
        None,
        "public-domain",
    )


def test_unknown_use_is_a_user_error_listing_the_valid_uses(policy):
    with pytest.raises(UserError, match=r"'personal'.*research, commercial$"):
        policy.judge("CC0-1.0", "personal")
    with pytest.raises(UserError, match="research, commercial"):
        policy.check_use("Research")


def test_changing_a_rule_in_the_policy_file_changes_the_decision(tmp_path):
    def allow_nc_commercially(data):
        _rule(data, "cc-by-nc")["allow"] = ["research", "commercial"]

    policy = load_policy(_policy_with(tmp_path, allow_nc_commercially))
    assert policy.judge("CC BY-NC 2.0", "commercial", True).allowed
    assert not policy.judge("CC BY-NC-SA 2.0", "commercial", True).allowed


def test_reject_reason_comes_from_the_policy_file(tmp_path):
    def rename_reason(data):
        _rule(data, "cc-by-nd")["reason"] = "derivatives_forbidden"

    policy = load_policy(_policy_with(tmp_path, rename_reason))
    assert policy.judge("CC BY-ND 4.0", "research", True).reason == "derivatives_forbidden"


def test_rule_without_reason_rejects_with_use_not_allowed(tmp_path):
    def forbid_gfdl_commercially(data):
        _rule(data, "gfdl")["allow"] = ["research"]

    policy = load_policy(_policy_with(tmp_path, forbid_gfdl_commercially))
    assert policy.judge("GFDL 1.3", "commercial", True).reason == "use_not_allowed"


def test_policy_file_can_waive_consent_for_commercial_use(tmp_path):
    def waive(data):
        data["consent"]["required_for"] = []

    policy = load_policy(_policy_with(tmp_path, waive))
    assert policy.judge("CC BY 2.0", "commercial", consent=None).allowed
    assert policy.judge("CC BY 2.0", "commercial", consent=False).reason == "consent_refused"


def test_rule_order_decides_which_class_a_licence_gets(tmp_path):
    def cc_by_first(data):
        data["rules"].insert(0, _rule(data, "cc-by"))

    policy = load_policy(_policy_with(tmp_path, cc_by_first))
    assert policy.judge("CC BY-ND 4.0", "research", True).licence_class == "cc-by"


def test_policy_without_catch_all_rejects_unmatched_licences(tmp_path):
    def drop_catch_all(data):
        data["rules"] = [r for r in data["rules"] if r["licence_class"] != "unknown"]

    decision = load_policy(_policy_with(tmp_path, drop_catch_all)).judge("MIT", "research", True)
    assert (decision.allowed, decision.reason, decision.licence_class) == (
        False,
        "no_matching_rule",
        "unknown",
    )


def test_policy_defaults_to_the_configs_folder(tmp_path, monkeypatch):
    def research_only(data):
        data["uses"] = ["research"]
        data["consent"]["required_for"] = []
        for rule in data["rules"]:
            rule["allow"] = [u for u in rule["allow"] if u == "research"]

    _policy_with(tmp_path, research_only).rename(tmp_path / "licence_policy.yaml")
    monkeypatch.setenv("IDPHOTO_CONFIG_DIR", str(tmp_path))
    assert load_policy().uses == ("research",)


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda d: d["rules"][5].update(allow=["research", "comercial"]), "'rules[5].allow[1]'"),
        (lambda d: d["consent"].update(required_for=["personal"]), "'consent.required_for[0]'"),
        (lambda d: d["rules"][0].update(colour="red"), "'rules[0].colour'"),
        (lambda d: d["rules"][2].pop("match"), "'rules[2].match'"),
        (lambda d: d["rules"][1].update(match=["CC-BY-(2"]), "'rules[1].match[0]'"),
        (lambda d: d["rules"][1].update(match=[]), "'rules[1].match'"),
        (lambda d: d["rules"][3].update(reason="No Derivatives!"), "'rules[3].reason'"),
        (lambda d: d["rules"][3].update(allow="research"), "'rules[3].allow'"),
        (lambda d: d.pop("consent"), "'consent'"),
        (lambda d: d.update(uses=[]), "'uses'"),
        (lambda d: d.update(rules=[]), "'rules'"),
    ],
)
def test_malformed_policy_fails_naming_the_key(tmp_path, edit, key):
    path = _policy_with(tmp_path, edit)
    with pytest.raises(ConfigError) as raised:
        load_policy(path)
    assert key in str(raised.value)
    assert str(path) in str(raised.value)


def test_missing_policy_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="nowhere.yaml"):
        load_policy(tmp_path / "nowhere.yaml")


def test_digest_changes_with_the_rules_not_with_comments(tmp_path):
    default = load_policy()
    commented = tmp_path / "commented.yaml"
    commented.write_text("# a new comment\n" + (config_dir() / "licence_policy.yaml").read_text())
    assert load_policy(commented).digest == default.digest

    def allow_nd(data):
        _rule(data, "cc-by-nd")["allow"] = ["research"]

    assert load_policy(_policy_with(tmp_path, allow_nd)).digest != default.digest


def test_policy_survives_pickling_for_beam_workers(policy):
    policy.judge("CC BY 2.0", "research")  # fills the compiled-pattern caches first
    copy = pickle.loads(pickle.dumps(policy))
    assert copy == policy
    assert copy.judge("CC BY-NC 2.0", "commercial", True).reason == "non_commercial"


def test_licences_package_imports_no_beam_tensorflow_or_mlflow():
    code = (
        "import sys, idphoto.licences as l; l.load_policy().judge('CC BY 2.0', 'research');"
        "heavy = {'apache_beam', 'tensorflow', 'mlflow'};"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
