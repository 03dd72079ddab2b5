"""One end-to-end ingest run over every hostile input at once: the corpus of bad image files,
paths that try to leave the manifest's folder, and formula text in a BOM + CRLF CSV."""

import csv
import io
import json
import os

import pyarrow.parquet as pq
import pytest

from pipelines import ingest
from tests.reliability.corpus import build_corpus

pytestmark = pytest.mark.slow
IN_MEMORY = ["--runner=DirectRunner", "--direct_running_mode=in_memory"]
FORMULAS = ["=cmd|' /C calc'!A0", "+SUM(1)", "-1+1", "@x"]
COLUMNS = ["id", "path", "licence", "author", "source_url", "title", "consent", "landmarks"]


def _manifest_rows(corpus, root, secret):
    """(row, allowed reasons) for every corpus file and every hostile path."""
    os.symlink(secret, root / "images" / "symlink.png")
    os.link(secret, root / "images" / "hardlink.png")
    marks = json.dumps(corpus[0].landmarks)
    rows = []
    for number, hostile in enumerate(corpus):
        (root / "images" / hostile.name).write_bytes(hostile.data)
        text = FORMULAS[number % len(FORMULAS)]
        row = {
            "id": f"photo-{hostile.name}",
            "path": f"images/{hostile.name}",
            "licence": "CC BY 4.0",
            "author": text,
            "source_url": f"https://example.org/{number}",
            "title": f"{text} \u00e9 #{number}",
            "consent": "true",
            "landmarks": json.dumps(hostile.landmarks),
        }
        rows.append((row, hostile.outcomes))
    for id_, path, reason in [
        ("dotdot", "../outside/secret.png", "path_traversal"),
        ("absolute", str(secret), "path_outside_root"),
        ("symlink", "images/symlink.png", "path_outside_root"),
        ("hardlink", "images/hardlink.png", "hard_link"),
        ("passwd", "file:///etc/passwd", "unsupported_scheme"),
        ("http", "http://example.org/photo.png", "unsupported_scheme"),
        ("ftp", "ftp://example.org/photo.png", "unsupported_scheme"),
    ]:
        row = dict.fromkeys(COLUMNS, "") | {"id": id_, "path": path, "licence": "CC0-1.0"}
        rows.append((row | {"consent": "true", "landmarks": marks}, frozenset({reason})))
    return rows


def _write_csv(path, rows):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(row for row, _ in rows)
    path.write_bytes(b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8"))  # as Excel saves it


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    root, outside = base / "root", base / "outside"
    (root / "images").mkdir(parents=True)
    outside.mkdir()
    corpus = build_corpus()
    secret = outside / "secret.png"
    secret.write_bytes(corpus[0].data)
    rows = _manifest_rows(corpus, root, secret)
    manifest = root / "manifest.csv"
    _write_csv(manifest, rows)
    out = base / "out"
    report = ingest.run(["--manifest", str(manifest), "--out", str(out), *IN_MEMORY])
    lineage = {r["id"]: r for r in pq.read_table(out / "lineage.parquet").to_pylist()}
    return rows, report, lineage, (out / "ATTRIBUTION.md").read_text(encoding="utf-8")


def test_every_manifest_row_is_one_lineage_row(hostile_run):
    rows, report, lineage, _ = hostile_run
    assert report["rows_in"] == report["rows_out"] == len(rows) == len(lineage)
    assert sorted(lineage) == sorted(row["id"] for row, _ in rows)


def test_every_hostile_input_ends_as_expected_with_a_specific_reason(hostile_run):
    rows, _, lineage, _ = hostile_run
    unexpected = {
        row["id"]: (lineage[row["id"]]["reason"], lineage[row["id"]]["detail"])
        for row, outcomes in rows
        if lineage[row["id"]]["reason"] not in outcomes
    }
    assert unexpected == {}
    assert not [r for r in lineage.values() if r["reason"] == "processing_error"]
    accepted = {r["id"] for r in lineage.values() if r["decision"] == "accepted"}
    assert accepted >= {"photo-good.png", "photo-animated.gif", "photo-cmyk.jpg"}


def test_accepted_photos_are_written_to_the_dataset(hostile_run):
    _, report, lineage, _ = hostile_run
    accepted = sum(1 for r in lineage.values() if r["decision"] == "accepted")
    assert sum(report["splits"].values()) == accepted


def test_formula_text_reaches_the_lineage_byte_for_byte(hostile_run):
    rows, _, lineage, _ = hostile_run
    for row, _ in rows:
        assert lineage[row["id"]]["author"] == row["author"]
        assert lineage[row["id"]]["title"] == row["title"]


def test_formula_text_is_shown_as_typed_in_attribution(hostile_run):
    markdown_it = pytest.importorskip("markdown_it")
    _, _, lineage, attribution = hostile_run
    tokens = markdown_it.MarkdownIt("commonmark").parse(attribution)
    assert not [t for t in tokens if t.type.startswith(("html", "code", "fence"))]
    inline = [t for t in tokens if t.type == "inline"]
    assert {c.type for t in inline for c in t.children} <= {"text"}  # no link, image, emphasis
    shown = {"".join(c.content for c in t.children) for t in inline}
    accepted = [r for r in lineage.values() if r["decision"] == "accepted"]
    assert accepted
    for row in accepted:
        assert (
            f"{row['title']} by {row['author']}, {row['source_url']}, licensed under CC-BY-4.0 "
            f"(id {row['id']})"
        ) in shown
