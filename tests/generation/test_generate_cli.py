"""`idphoto generate`: flags checked up front in one line, presets listed, labels verified."""

import json
import subprocess
import sys

import pytest
from PIL import Image

from idphoto.cli import main

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
FLAGS = ["--model", "models:/m@champion", "--n", "2", "--preset", "passport-35x45", "--out"]


def _run(capsys, *argv):
    try:
        code = main(["generate", *argv])
    except SystemExit as exit_:  # argparse's own errors (bad flag values)
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--n", "0"], "--n must be at least 1"),
        (["--batch-size", "0"], "--batch-size must be at least 1"),
        (["--seed", "-1"], "--seed must be at least 0"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--preset", "passport"], "unknown preset 'passport'; valid presets: canada-50x70"),
    ],
)
def test_bad_flags_fail_in_one_line_naming_the_flag(capsys, tmp_path, argv, message):
    code, out, err = _run(capsys, *FLAGS, str(tmp_path / "out"), *argv)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"idphoto generate: error: {message}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("missing", ["--model", "--n", "--preset", "--out"])
def test_missing_required_flag_is_named(capsys, tmp_path, missing):
    argv = [*FLAGS, str(tmp_path / "out")]
    at = argv.index(missing)
    del argv[at : at + 2]
    code, _, err = _run(capsys, *argv)
    assert code == 2 and f"error: {missing} is required" in err


def test_flag_errors_do_not_import_tensorflow_or_mlflow():
    script = (
        "import sys, idphoto.cli as cli\n"
        "code = cli.main(['generate', '--model', 'm', '--preset', 'x', '--out', 'o'])\n"
        "print(code, 'tensorflow' in sys.modules, 'mlflow' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.stdout.split() == ["2", "False", "False"]


def test_list_presets_prints_the_table(capsys):
    code, out, _ = _run(capsys, "--list-presets")
    assert code == 0
    assert out.splitlines()[0].startswith("NAME")
    names = [line.split()[0] for line in out.splitlines()[1:]]
    assert {"passport-35x45", "visa-33x48", "us-2x2in", "one-inch-25x35", "two-inch-35x49"} <= set(
        names
    )


def test_list_presets_refuses_generation_flags(capsys):
    code, _, err = _run(capsys, "--list-presets", "--n", "3")
    assert code == 2 and "--list-presets cannot be combined with --n" in err


def test_generate_then_verify_the_labels(capsys, generator_store, tmp_path):
    out = tmp_path / "generated"
    model = f"models:/{generator_store.name}@{generator_store.alias}"
    code, stdout, err = _run(capsys, "--model", model, "--n", "3", "--preset", "visa-33x48",
                             "--out", str(out), "--format", "jpeg", "--seed", "5")  # fmt: skip
    assert code == 0, err
    assert f"wrote 3 photos (visa-33x48, 390x567 px) from {generator_store.name} v" in stdout
    files = sorted(out.glob("photo-*.jpg"))
    assert len(files) == 3
    with Image.open(files[0]) as image:
        assert image.size == (390, 567)

    code, stdout, _ = _run(capsys, "--verify", *map(str, files))
    reports = [json.loads(line) for line in stdout.splitlines()]
    assert code == 0 and len(reports) == 3
    assert all(r["ai_generated_label"] for r in reports)
    assert {r["digital_source_type"] for r in reports} == {TRAINED_ALGORITHMIC_MEDIA}
    assert [r["index"] for r in reports] == ["0", "1", "2"] and reports[0]["seed"] == "5"


def test_verify_exits_1_for_an_unlabelled_file(capsys, tmp_path):
    path = tmp_path / "plain.png"
    Image.new("RGB", (10, 10)).save(path)
    code, stdout, _ = _run(capsys, "--verify", str(path))
    assert code == 1 and json.loads(stdout)["ai_generated_label"] is False


def test_verify_of_a_missing_file_is_a_one_line_error(capsys, tmp_path):
    code, _, err = _run(capsys, "--verify", str(tmp_path / "nope.png"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "cannot read" in err
