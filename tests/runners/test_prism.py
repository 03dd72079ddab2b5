"""The ingest job on a second engine: Prism, Beam's portable runner, with the Python work in a
pool of SDK worker processes, gives the dataset the DirectRunner gives."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from apache_beam.version import __version__ as beam_version

from idphoto.data import dataset
from pipelines import ingest
from pipelines.worker_pool import sdk_worker_pool
from tests.conftest import free_port

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def prism_binary():
    """The Prism binary `make prism` builds (`make test` builds it first)."""
    built = subprocess.run(
        ["make", "--no-print-directory", "-s", "-C", str(REPOSITORY), "prism"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    # Built at the installed SDK's version, which constraints.txt pins.
    binary = REPOSITORY / "build" / "bin" / f"prism-{beam_version}"
    assert os.access(binary, os.X_OK)
    return str(binary)


def _lineage(out: str) -> list[dict]:
    rows = pq.read_table(os.path.join(out, dataset.LINEAGE_FILE)).to_pylist()
    return sorted(rows, key=lambda row: row["id"])


def _report(out: str) -> dict:
    with open(os.path.join(out, dataset.REPORT_FILE), encoding="utf-8") as handle:
        return json.load(handle)


def test_prism_with_external_workers_writes_the_directrunners_dataset(
    prism_binary, sample_manifest, ingested_research, tmp_path
):
    out = str(tmp_path / "prism")
    with open(tmp_path / "pool.log", "w") as log, sdk_worker_pool(free_port(), log) as pool:
        report = ingest.run(
            ["--manifest", sample_manifest, "--out", out, "--use", "research",
             "--runner=PrismRunner", f"--prism_location={prism_binary}",
             "--environment_type=EXTERNAL", f"--environment_config={pool}"]
        )  # fmt: skip
    assert "Starting worker" in (tmp_path / "pool.log").read_text()  # the pool did the work
    direct = _report(ingested_research)
    assert report["runner"] == "PrismRunner" and direct["runner"] == "DirectRunner"
    assert _lineage(out) == _lineage(ingested_research)
    assert report["splits"] == direct["splits"]  # examples per split
    assert report["content_sha256"] == direct["content_sha256"]
    # Both runners report their metrics, and they count what the lineage holds.
    for counted in (report, direct):
        assert counted["counted_from"] == "runner metrics"
        for key in ("by_decision", "by_reason", "by_class"):
            assert counted[key] == report[key] == direct[key]
    lineage = _lineage(out)
    assert sum(report["by_decision"].values()) == len(lineage)
    assert report["by_decision"]["accepted"] == sum(r["decision"] == "accepted" for r in lineage)
