"""Ingest → train → promote → generate → trace against a real MLflow server.

The research dataset keeps non-commercial photos, so its model must be refused for commercial
use; the model trained on the commercial dataset passes. Quality thresholds are relaxed (a few
training steps cannot make good faces); the licence and near-copy gates run as configured.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import mlflow
import pyarrow.parquet as pq
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from idphoto.cli import main
from idphoto.generation.labelling import read_label

pytestmark = pytest.mark.slow
MODEL = "idphoto-generator"
LENIENT = [
    "--set", "quality.max_swd=1e9",
    "--set", "quality.min_id_compliance=0",
    "--set", "quality.beat_current=false",
    "--set", "near_copy.samples=32",
    "--set", "near_copy.neighbours=3",
]  # fmt: skip


def _train(data, run_dir, env, steps=4):
    done = subprocess.run(
        [sys.executable, "-m", "idphoto", "train", "--data", data,
         "--config", "configs/train/seed_dcgan.yaml", "--out", run_dir, "--steps", str(steps),
         "--set", "data.batch_size_per_replica=4", "--set", "schedule.eval_every=4",
         "--set", "metrics.swd_samples=8", "--set", "metrics.compliance_samples=4"],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    with open(os.path.join(run_dir, "mlflow_run.json")) as handle:
        return json.load(handle)["run_id"]


@pytest.fixture(scope="module")
def runs(ingested_research, ingested_commercial, mlflow_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server}
    return {
        "research": _train(ingested_research, str(root / "research"), env),
        "commercial": _train(ingested_commercial, str(root / "commercial"), env),
    }


def _ids(data, **where):
    rows = pq.read_table(os.path.join(data, "lineage.parquet")).to_pylist()
    return [r["id"] for r in rows if all(r[k] == v for k, v in where.items())]


def _versions(client):
    return client.search_model_versions(f"name='{MODEL}'")


def _registry(client):
    """The model's versions and where its aliases point (empty before the first promotion)."""
    try:
        aliases = client.get_registered_model(MODEL).aliases
    except MlflowException:
        aliases = {}
    return sorted((v.version, v.run_id) for v in _versions(client)), dict(aliases)


def test_training_logs_the_lineage_as_an_mlflow_dataset_with_a_licence_summary(runs, tracking):
    client = MlflowClient()
    research = client.get_run(runs["research"])
    commercial = client.get_run(runs["commercial"])
    assert research.data.tags["idphoto.lineage.allowed_uses"] == "research"
    assert commercial.data.tags["idphoto.lineage.allowed_uses"] == "research,commercial"
    assert "non-commercial" in research.data.tags["idphoto.lineage.obligations"]
    assert int(research.data.tags["idphoto.lineage.class.cc-by-nc"]) >= 1
    (dataset_input,) = research.inputs.dataset_inputs
    digest = research.data.tags["idphoto.lineage.content_sha256"]
    assert dataset_input.dataset.digest == digest[:32]
    assert commercial.data.tags["idphoto.lineage.content_sha256"] != digest


def test_research_model_is_refused_for_commercial_use_and_the_registry_is_unchanged(
    runs, tracking, capsys
):
    client = MlflowClient()
    before = _registry(client)
    code = main(["promote", "--run", runs["research"], "--use", "commercial", *LENIENT])
    out = capsys.readouterr().out
    assert code == 1
    assert "licence    failed" in out and "non_commercial" in out
    assert "refused (licence)" in out
    assert _registry(client) == before  # no version created, no alias moved
    assert not [v for v in _versions(client) if v.run_id == runs["research"]]
    tags = client.get_run(runs["research"]).data.tags
    assert tags["idphoto.gate.commercial.licence"] == "failed"
    assert tags["idphoto.gate.commercial.near_copy"] == "passed"


def test_clean_model_is_promoted_then_generates_labelled_photos_and_is_traced(
    runs, tracking, ingested_commercial, ingested_research, tmp_path, capsys
):
    code = main(["promote", "--run", runs["commercial"], "--use", "commercial", *LENIENT])
    out = capsys.readouterr().out
    assert code == 0, out
    client = MlflowClient()
    version = client.get_model_version_by_alias(MODEL, "champion")
    assert version.run_id == runs["commercial"]
    assert version.tags["idphoto.gate.commercial.licence"] == "passed"
    assert version.tags["idphoto.lineage.allowed_uses"] == "research,commercial"
    assert version.tags["idphoto.lineage.parquet"] == (
        f"runs:/{runs['commercial']}/dataset/lineage.parquet"
    )
    pairs = client.list_artifacts(runs["commercial"], "promotion")
    assert [a.path for a in pairs] == ["promotion/champion-closest-pairs.png"]

    out_dir = tmp_path / "photos"
    assert main(["generate", "--model", f"models:/{MODEL}@champion", "--n", "3",
                 "--preset", "passport-35x45", "--out", str(out_dir)]) == 0  # fmt: skip
    label = read_label(str(out_dir / "photo-00000.png"))
    assert label["digital_source_type"].endswith("/trainedAlgorithmicMedia")
    assert label["run_id"] == runs["commercial"] and label["model_version"] == version.version

    clean_photo = _ids(ingested_commercial, decision="accepted")[0]
    capsys.readouterr()
    assert main(["lineage", "trace", "--id", clean_photo, "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    reached = {run["run_id"]: run for hit in hits for run in hit["runs"]}
    assert set(reached) == {runs["research"], runs["commercial"]}  # in both datasets
    (versions,) = [reached[runs["commercial"]]["versions"]]
    assert versions == [{"name": MODEL, "version": version.version, "aliases": ["champion"]}]

    nc_photo = next(
        i for i in _ids(ingested_research, decision="accepted")
        if i not in _ids(ingested_commercial, decision="accepted")
    )  # fmt: skip
    assert main(["lineage", "trace", "--id", nc_photo, "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    reached = [run["run_id"] for hit in hits for run in hit["runs"]]
    rejected = [hit for hit in hits if hit["decision"] == "rejected"]
    assert reached == [runs["research"]]
    assert rejected and rejected[0]["runs"] == []  # the commercial dataset lists it, rejected


def test_racing_promotions_end_with_the_better_model_holding_the_alias(runs, tracking, tmp_path):
    client = MlflowClient()
    swd = {run_id: client.get_run(run_id).data.metrics["swd"] for run_id in runs.values()}
    better, worse = sorted(runs.values(), key=swd.get)
    assert swd[better] < swd[worse]
    hook = str(Path(__file__).with_name("race_hook.py"))  # forces the two promotions to overlap
    racing = [
        subprocess.Popen(
            [
                sys.executable,
                hook,
                str(tmp_path),
                role,
                "promote",
                "--run",
                run_id,
                "--use",
                "research",
                "--alias",
                "race",
                *LENIENT,
                "--set",
                "quality.beat_current=true",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for role, run_id in (("worse", worse), ("better", better))
    ]
    outputs = [process.communicate(timeout=600) for process in racing]
    assert all(p.returncode in (0, 1) for p in racing), [err[-2000:] for _, err in outputs]
    assert (tmp_path / "read-worse").exists() and (tmp_path / "read-better").exists()
    assert client.get_model_version_by_alias(MODEL, "race").run_id == better
    for run_id in runs.values():  # both were judged on every gate
        tags = client.get_run(run_id).data.tags
        assert tags["idphoto.gate.research.licence"] == "passed"
        assert tags["idphoto.gate.research.near_copy"] == "passed"
        assert tags["idphoto.gate.research.quality"] in ("passed", "failed")


def test_an_alias_moved_by_hand_fails_the_audit_and_fix_moves_it_back(runs, tracking, capsys):
    assert main(["promote", "--run", runs["commercial"], "--use", "commercial", *LENIENT]) == 0
    client = MlflowClient()
    gated = client.get_model_version_by_alias(MODEL, "champion").version
    assert main(["registry", "audit", "--model", MODEL]) == 0
    assert f"ok      {MODEL}@champion -> version {gated}" in capsys.readouterr().out
    # What the UI's alias pencil does: register the refused research model and move the alias.
    rogue = mlflow.register_model(f"runs:/{runs['research']}/generator", MODEL).version
    client.set_registered_model_alias(MODEL, "champion", rogue)
    assert main(["registry", "audit", "--model", MODEL]) == 1
    out = capsys.readouterr().out
    assert f"FAILED  {MODEL}@champion -> version {rogue}: no passing gate record" in out
    assert client.get_model_version_by_alias(MODEL, "champion").version == rogue  # no --fix
    assert main(["registry", "audit", "--model", MODEL, "--fix"]) == 1
    assert f"fixed: alias champion moved back to version {gated}" in capsys.readouterr().out
    assert client.get_model_version_by_alias(MODEL, "champion").version == gated
    why = client.get_model_version(MODEL, rogue).tags["idphoto.audit.champion"]
    assert f"moved back to version {gated}" in why and "no passing gate record" in why
    assert main(["registry", "audit", "--model", MODEL]) == 0


def test_a_run_extended_after_its_promotion_registers_its_new_model_as_a_new_version(
    ingested_commercial, mlflow_server, tracking, tmp_path
):
    run_dir = str(tmp_path / "extended")
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server}
    run_id = _train(ingested_commercial, run_dir, env)
    promote = ["promote", "--run", run_id, "--use", "commercial", "--alias", "extended", *LENIENT]
    assert main(promote) == 0
    client = MlflowClient()
    first = client.get_model_version_by_alias(MODEL, "extended")
    _train(ingested_commercial, run_dir, env, steps=6)  # the same run, trained further
    assert main(promote) == 0
    second = client.get_model_version_by_alias(MODEL, "extended")
    assert second.version != first.version and second.run_id == first.run_id == run_id
    latest = mlflow.models.get_model_info(f"runs:/{run_id}/generator").model_uri
    assert second.source == latest != first.source  # the alias names the model it judged


def test_lineage_show_prints_tables_and_typed_json(runs, tracking, capsys):
    assert main(["promote", "--run", runs["commercial"], "--use", "commercial", *LENIENT]) == 0
    capsys.readouterr()
    assert main(["lineage", "show", "--run", runs["commercial"]]) == 0
    text = capsys.readouterr().out
    assert f"run {runs['commercial']}" in text
    assert "  allowed uses  research, commercial" in text
    assert "gates for commercial use (alias champion" in text
    assert "  licence    passed  all " in text
    assert f"  {MODEL} version " in text and "@champion" in text
    assert main(["lineage", "show", "--run", runs["commercial"], "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    lineage = summary["lineage"]
    assert isinstance(lineage["rows"], int) and lineage["accepted"] <= lineage["rows"]
    assert sum(lineage["by_class"].values()) == lineage["accepted"]
    assert lineage["allowed_uses"] == ["research", "commercial"]
    assert summary["gates"]["commercial"]["gates"]["near_copy"]["status"] == "passed"
    assert isinstance(summary["metrics"]["swd"], float)


# --- the MLflow UI, in a real browser ---------------------------------------------------------

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts"


def _browse(url: str, name: str) -> str:
    """The page as headless Chromium renders it (its DOM after the scripts ran); a screenshot is
    kept in build/test-artifacts/ for people to look at."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is needed (.ci/run installs it)"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    flags = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--window-size=1400,900", "--virtual-time-budget=20000",
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [*flags, f"--user-data-dir={profile}", f"--screenshot={SCREENSHOTS / name}", url],
            capture_output=True, timeout=180, check=True,
        )  # fmt: skip
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run(
            [*flags, f"--user-data-dir={profile}", "--dump-dom", url],
            capture_output=True, text=True, timeout=180, check=True,
        )  # fmt: skip
    return dom.stdout


def test_the_ui_lists_both_runs_with_their_datasets_and_the_model_with_its_metrics(
    runs, mlflow_server, tracking
):
    client = MlflowClient()
    experiment = client.get_run(runs["research"]).info.experiment_id
    page = f"{mlflow_server}/#/experiments/{experiment}/runs?workflowType=machine_learning"
    dom = _browse(page, "runs.png")
    assert "research" in dom and "commercial" in dom  # the two runs' datasets
    assert dom.count("seed-dcgan-bs4") >= 2  # both runs are listed
    model_id = mlflow.models.get_model_info(f"runs:/{runs['commercial']}/generator").model_id
    dom = _browse(f"{mlflow_server}/#/experiments/{experiment}/models/{model_id}", "model.png")
    assert "swd" in dom and "id_compliance" in dom  # the model's own metrics
