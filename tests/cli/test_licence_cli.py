import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from idphoto.cli import main
from idphoto.config import config_dir

REPO = Path(__file__).resolve().parents[2]


def _classify(capsys, *argv, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(["licence", "classify", *argv])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def _json(lines):
    return [json.loads(line) for line in lines]


def test_json_output_has_one_object_per_string_in_order(capsys):
    code, lines, _ = _classify(
        capsys, "--use", "commercial", "--json", "CC BY-NC 2.0", "CC BY 2.0", ""
    )
    assert code == 0
    assert _json(lines) == [
        {
            "input": "CC BY-NC 2.0",
            "spdx": "CC-BY-NC-2.0",
            "class": "cc-by-nc",
            "allowed": False,
            "reason": "non_commercial",
            "obligations": [],
        },
        {
            "input": "CC BY 2.0",
            "spdx": "CC-BY-2.0",
            "class": "cc-by",
            "allowed": True,
            "reason": "ok",
            "obligations": ["attribution"],
        },
        {
            "input": "",
            "spdx": None,
            "class": "empty",
            "allowed": False,
            "reason": "empty_licence",
            "obligations": [],
        },
    ]


def test_strings_are_read_from_stdin_when_none_are_given(capsys, monkeypatch):
    stdin = "Attribution-NoDerivs License\n\nPublic Domain Mark\r\nby"
    code, lines, _ = _classify(
        capsys, "--json", "--use", "research", stdin=stdin, monkeypatch=monkeypatch
    )
    assert code == 0
    assert [(o["input"], o["reason"]) for o in _json(lines)] == [
        ("Attribution-NoDerivs License", "no_derivatives"),
        ("", "empty_licence"),
        ("Public Domain Mark", "ok"),
        ("by", "ok"),
    ]


def test_empty_stdin_prints_nothing(capsys, monkeypatch):
    code, lines, _ = _classify(capsys, "--use", "research", stdin="", monkeypatch=monkeypatch)
    assert (code, lines) == (0, [])


def test_text_output_is_a_header_then_one_aligned_line_per_string(capsys):
    code, lines, _ = _classify(capsys, "--use", "commercial", "CC BY 2.0", "by-nc", "")
    assert code == 0
    header, *rows = lines
    assert header.split() == ["VERDICT", "SPDX", "CLASS", "REASON", "OBLIGATIONS", "<-", "INPUT"]
    assert rows[0].split() == [
        "ALLOW", "CC-BY-2.0", "cc-by", "ok", "attribution", "<-", "'CC", "BY", "2.0'",
    ]  # fmt: skip
    assert rows[1].split()[:5] == ["REJECT", "CC-BY-NC-4.0", "cc-by-nc", "non_commercial", "-"]
    assert rows[2].split() == ["REJECT", "-", "empty", "empty_licence", "-", "<-", "''"]
    assert len({line.index("<-") for line in lines}) == 1
    # Each column starts where its header does.
    for name in ("CLASS", "REASON", "OBLIGATIONS"):
        start = header.index(name)
        assert all(row[start - 1] == " " and row[start] != " " for row in rows)


def test_without_consent_flag_only_the_licence_is_judged(capsys):
    _, lines, _ = _classify(capsys, "--json", "--use", "commercial", "CC0-1.0")
    assert _json(lines)[0]["allowed"] is True


def test_consent_false_rejects_an_allowed_licence(capsys):
    _, lines, _ = _classify(capsys, "--json", "--use", "research", "--consent", "false", "CC0-1.0")
    assert _json(lines)[0]["reason"] == "consent_refused"


def test_consent_true_keeps_an_allowed_licence_allowed(capsys):
    _, lines, _ = _classify(capsys, "--json", "--use", "commercial", "--consent", "true", "CC0")
    assert _json(lines)[0]["allowed"] is True


def test_policy_flag_replaces_the_default_policy(capsys, tmp_path):
    text = (config_dir() / "licence_policy.yaml").read_text()
    policy = tmp_path / "lenient.yaml"
    policy.write_text(text.replace("reason: no_derivatives", "reason: nd_forbidden"))
    _, lines, _ = _classify(capsys, "--json", "--use", "research", "--policy", str(policy), "by-nd")
    assert _json(lines)[0]["reason"] == "nd_forbidden"


@pytest.mark.parametrize(("default_use", "allowed"), [("research", True), ("commercial", False)])
def test_use_defaults_to_the_policys_default_use(capsys, tmp_path, default_use, allowed):
    text = (config_dir() / "licence_policy.yaml").read_text()
    policy = tmp_path / "policy.yaml"
    policy.write_text(text.replace("default_use: research", f"default_use: {default_use}"))
    _, lines, _ = _classify(capsys, "--json", "--policy", str(policy), "by-nc")
    assert _json(lines)[0]["allowed"] is allowed


def test_unknown_use_is_a_one_line_error_naming_the_flag(capsys):
    code, lines, err = _classify(capsys, "--use", "personal", "CC0")
    assert code == 2
    assert lines == []
    assert err.splitlines() == [
        "idphoto licence: error: --use: unknown use 'personal'; valid uses: research, commercial"
    ]


def test_missing_policy_file_is_a_one_line_error(capsys, tmp_path):
    code, _, err = _classify(capsys, "--policy", str(tmp_path / "none.yaml"), "CC0")
    assert code == 2
    assert len(err.splitlines()) == 1 and "none.yaml" in err


def test_bad_consent_value_is_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["licence", "classify", "--consent", "maybe", "CC0"])
    assert raised.value.code == 2
    assert "--consent" in capsys.readouterr().err


def test_licence_without_action_is_an_error(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["licence"])
    assert raised.value.code == 2
    assert len(capsys.readouterr().err.splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "expected"), [(["licence"], "classify"), (["licence", "classify"], "--use")]
)
def test_help_is_available(capsys, argv, expected):
    with pytest.raises(SystemExit) as raised:
        main([*argv, "--help"])
    assert raised.value.code == 0
    assert expected in capsys.readouterr().out


def _start_console(*argv):
    return subprocess.Popen(
        [sys.executable, "-m", "idphoto", "licence", "classify", *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


@pytest.fixture(scope="module")
def console_runs():
    """Runs the real console script twice, concurrently (each start imports Beam, ~1.5 s)."""
    started = {
        "json": (_start_console("--use", "commercial", "--json"), "CC BY-NC 2.0\n\n“CC BY 2.0”\n"),
        "bad_use": (_start_console("--use", "sale", "CC0"), ""),
    }
    runs = {}
    for name, (process, stdin) in started.items():
        out, err = process.communicate(stdin, timeout=120)
        runs[name] = (process.returncode, out, err)
    return runs


def test_console_script_classifies_stdin_as_json_lines(console_runs):
    code, out, err = console_runs["json"]
    assert code == 0, err
    assert [(o["input"], o["allowed"], o["reason"]) for o in _json(out.splitlines())] == [
        ("CC BY-NC 2.0", False, "non_commercial"),
        ("", False, "empty_licence"),
        ("“CC BY 2.0”", True, "ok"),
    ]


def test_console_script_bad_use_exits_2_with_one_line_and_no_traceback(console_runs):
    code, out, err = console_runs["bad_use"]
    assert (code, out) == (2, "")
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("idphoto")] == [
        "idphoto licence: error: --use: unknown use 'sale'; valid uses: research, commercial"
    ]
