"""Hostile manifests: every one is read correctly or stops the job before it starts with one line
naming the file and, where there is one, the line (or FFHQ record)."""

import csv
import gzip
import io
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idphoto.data.manifest import ManifestError, count_rows, read_manifest
from idphoto.errors import UserError

FORMULAS = ["=cmd|' /C calc'!A0", "+SUM(1)", "-1+1", "@x", '=HYPERLINK("http://e.example","a")']
HEADER = b"id,path,licence,author,title\n"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("manifests")


def _write(folder, name, data: bytes) -> str:
    path = folder / name
    path.write_bytes(data)
    return str(path)


def _csv(rows, header=("id", "path", "licence", "author", "title")) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _error(path) -> str:
    with pytest.raises(ManifestError) as info:
        count_rows(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(path), message
    return message


# --- arbitrary bytes ----------------------------------------------------------------------------


def _read_or_refuse(path):
    """Reads the whole manifest; a refusal must be one line naming the file."""
    try:
        rows = list(read_manifest(path))
    except ManifestError as err:
        assert "\n" not in str(err) and str(err).startswith(path), str(err)
        return None
    for row in rows:
        assert isinstance(row["id"], str) and row["id"] == row["id"].strip() and row["id"]
        assert isinstance(row["path"], str) and row["path"]
        assert all(isinstance(row[f], str) for f in ("licence", "author", "source_url", "title"))
        assert isinstance(row["line"], int) and row["line"] >= 1
    return rows


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=600), name=st.sampled_from(["m.csv", "m.jsonl", "ffhq.json"]))
def test_arbitrary_bytes_are_read_or_refused_in_one_line(folder, data, name):
    _read_or_refuse(_write(folder, name, data))


@settings(max_examples=150, deadline=None)
@given(
    cells=st.lists(st.lists(st.text(max_size=12), min_size=3, max_size=6), max_size=5),
    prefix=st.sampled_from([b"", b"\xef\xbb\xbf"]),
    ending=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    damage=st.lists(st.tuples(st.integers(0, 10_000), st.binary(min_size=1, max_size=2))),
)
def test_csv_of_arbitrary_cells_is_read_or_refused_naming_the_line(
    folder, cells, prefix, ending, damage
):
    data = bytearray(prefix + _csv(cells).replace(b"\n", ending))
    for offset, junk in damage:  # stray bytes: NULs, half characters, lone quotes...
        data[offset % (len(data) + 1) : offset % (len(data) + 1)] = junk
    path = _write(folder, "cells.csv", bytes(data))
    try:
        count_rows(path)
    except ManifestError as err:
        assert "\n" not in str(err)
        assert re.search(r" line \d+: ", str(err)), str(err)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    records=st.lists(
        st.fixed_dictionaries(
            {}, optional={"id": _JSON, "path": _JSON, "licence": _JSON, "author": _JSON}
        ),
        max_size=4,
    ),
)
def test_json_lines_of_arbitrary_values_are_read_or_refused_naming_the_line(folder, records):
    text = "\n".join(json.dumps(r) for r in records) + "\n"
    path = _write(folder, "values.jsonl", text.encode())
    try:
        count_rows(path)
    except ManifestError as err:
        assert re.search(r" line \d+: ", str(err)) and "\n" not in str(err), str(err)


@settings(max_examples=150, deadline=None)
@given(
    records=st.dictionaries(
        st.text(max_size=6),
        _JSON
        | st.fixed_dictionaries(
            {"metadata": _JSON},
            optional={"image": _JSON, "in_the_wild": st.fixed_dictionaries({"file_path": _JSON})},
        ),
        max_size=4,
    )
)
def test_ffhq_json_of_arbitrary_records_is_read_or_refused_naming_the_record(folder, records):
    path = _write(folder, "ffhq-dataset-v2.json", json.dumps(records).encode())
    _read_or_refuse(path)


# --- encodings, line endings, columns -----------------------------------------------------------


def test_utf8_bom_and_crlf_are_read(folder):
    data = b"\xef\xbb\xbf" + HEADER.replace(b"\n", b"\r\n") + "a,a.png,CC0,Zoë,t\r\n".encode()
    (row,) = read_manifest(_write(folder, "bom.csv", data))
    assert (row["id"], row["author"], row["title"], row["line"]) == ("a", "Zoë", "t", 2)


def test_bare_cr_line_endings_are_read(folder):
    data = HEADER.replace(b"\n", b"\r") + b"a,a.png,CC0,A,t\rb,b.png,CC0,B,u\r"
    rows = list(read_manifest(_write(folder, "cr.csv", data)))
    assert [(r["id"], r["line"]) for r in rows] == [("a", 2), ("b", 3)]


def test_bom_in_json_lines_is_read(folder):
    data = b"\xef\xbb\xbf" + json.dumps({"id": "a", "path": "a.png", "licence": "CC0"}).encode()
    (row,) = read_manifest(_write(folder, "bom.jsonl", data + b"\n"))
    assert row["id"] == "a"


@pytest.mark.parametrize("line", [2, 3, 500])
def test_latin1_byte_in_a_utf8_csv_names_its_line(folder, line):
    rows = b"".join(b"p%d,p%d.png,CC0,A,t\n" % (i, i) for i in range(2, line))
    data = HEADER + rows + b"x,x.png,CC0,Jos\xe9,t\n" + b"y,y.png,CC0,A,t\n" * 300
    assert f" line {line}: not valid UTF-8" in _error(_write(folder, f"latin1-{line}.csv", data))


def test_latin1_byte_in_json_lines_names_its_line(folder):
    good = json.dumps({"id": "a", "path": "a.png", "licence": "CC0"}).encode() + b"\n"
    data = good * 2 + b'{"id": "b", "path": "b.png", "licence": "CC0", "author": "Jos\xe9"}\n'
    assert " line 3: not valid UTF-8" in _error(_write(folder, "latin1.jsonl", data))


@pytest.mark.parametrize(
    "header",
    [b"id,path,licence,id\n", b"id,path,licence,ID\n", b"id,path,licence,license\n"],
)
def test_duplicated_column_names_stop_the_job_at_line_1(folder, header):
    message = _error(_write(folder, "twice.csv", header + b"a,a.png,CC0,x\n"))
    assert re.search(r"line 1: column '\w+' appears twice", message)


def test_100k_character_field_is_read_whole(folder):
    long_text = "Ž" + "x" * 99_998 + "\u00e9"
    rows = [("a", "a.png", "CC BY 4.0", long_text, long_text)]
    (row,) = read_manifest(_write(folder, "long.csv", _csv(rows)))
    assert row["author"] == long_text and row["title"] == long_text
    record = {"id": "a", "path": "a.png", "licence": "CC0", "author": long_text}
    (row,) = read_manifest(_write(folder, "long.jsonl", json.dumps(record).encode() + b"\n"))
    assert row["author"] == long_text


def test_field_over_the_csv_limit_names_its_line(folder):
    rows = [("a", "a.png", "CC0", "A", "t"), ("b", "b.png", "CC0", "x" * 200_000, "t")]
    assert " line 3: field larger than field limit" in _error(
        _write(folder, "huge.csv", _csv(rows))
    )


@pytest.mark.parametrize("formula", FORMULAS)
def test_formula_text_in_author_and_title_is_read_byte_for_byte(folder, formula):
    rows = [("a", "a.png", "CC BY 4.0", formula, formula + ', "quoted"\ttab')]
    (row,) = read_manifest(_write(folder, "formula.csv", _csv(rows)))
    assert row["author"] == formula and row["title"] == formula + ', "quoted"\ttab'
    record = {"id": "a", "path": "a.png", "licence": "CC0", "author": formula, "title": formula}
    (row,) = read_manifest(_write(folder, "formula.jsonl", json.dumps(record).encode() + b"\n"))
    assert row["author"] == row["title"] == formula


def test_control_characters_and_nul_in_a_field_are_kept(folder):
    rows = [("a", "a.png", "CC0", "Jane\x00Doe\x1b[31m", "t")]
    (row,) = read_manifest(_write(folder, "nul.csv", _csv(rows)))
    assert row["author"] == "Jane\x00Doe\x1b[31m"


# --- JSON that the parser itself refuses ---------------------------------------------------------


def test_json_nested_past_the_recursion_limit_names_its_line(folder):
    good = json.dumps({"id": "a", "path": "a.png", "licence": "CC0"}).encode() + b"\n"
    deep = b'{"id": "b", "path": "b.png", "licence": "CC0", "x": ' + b"[" * 100_000
    data = good + deep + b"]" * 100_000 + b"}\n"
    assert " line 2: not valid JSON (nested too deeply)" in _error(
        _write(folder, "deep.jsonl", data)
    )
    ffhq = b'{"0": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert "not valid JSON (nested too deeply)" in _error(_write(folder, "ffhq-deep.json", ffhq))


def test_number_of_more_digits_than_python_converts_names_its_line(folder):
    data = b'{"id": ' + b"7" * 5000 + b', "path": "a.png", "licence": "CC0"}\n'
    assert " line 1: not valid JSON (a number too long" in _error(_write(folder, "big.jsonl", data))


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"metadata": "CC BY", "image": {"file_path": "a.png"}}, "not an FFHQ record"),
        ([], "not an FFHQ record"),
        ({"metadata": {}, "image": "images/a.png"}, "an image entry has no file_path text"),
        ({"metadata": {}, "image": {"file_path": 7}}, "an image entry has no file_path text"),
        ({"metadata": {}}, "no image or in_the_wild entry"),
    ],
)
def test_ffhq_record_of_the_wrong_shape_names_the_record(folder, record, message):
    path = _write(folder, "ffhq-shape.json", json.dumps({"00042": record}).encode())
    assert f"record '00042': {message}" in _error(path)


def test_ffhq_keys_that_only_look_like_numbers_are_read(folder):
    record = {"metadata": {"license": "CC0"}, "image": {"file_path": "a.png"}}
    keys = ["\u00b2", "\u0661\u0662", "9" * 5000, "10", "2"]
    path = _write(folder, "ffhq-keys.json", json.dumps(dict.fromkeys(keys, record)).encode())
    assert [r["id"] for r in read_manifest(path)][:2] == ["2", "10"]


# --- compressed manifests -------------------------------------------------------------------------


def test_gzipped_csv_and_json_lines_manifests_are_read(folder):
    rows = [("a", "a.png", "CC0", FORMULAS[0], "t")]
    (row,) = read_manifest(_write(folder, "m.csv.gz", gzip.compress(_csv(rows))))
    assert row["author"] == FORMULAS[0]
    record = {"id": "a", "path": "a.png", "licence": "CC0"}
    data = gzip.compress(json.dumps(record).encode() + b"\n")
    (row,) = read_manifest(_write(folder, "m.jsonl.gz", data))
    assert row["id"] == "a"


# --- the job stops before it starts --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "where"),
    [
        ("latin1.csv", HEADER + b"a,a.png,CC0,A,t\nb,b.png,CC0,Jos\xe9,t\n", "line 3"),
        ("twice.csv", b"id,path,licence,ID\na,a.png,CC0,b\n", "line 1"),
        ("deep.jsonl", b'{"id": "a", "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}\n", "line 1"),
    ],
)
def test_malformed_manifest_stops_the_job_before_any_output(tmp_path, name, data, where):
    from pipelines import ingest

    manifest = tmp_path / name
    manifest.write_bytes(data)
    with pytest.raises(UserError) as info:
        ingest.run(["--manifest", str(manifest), "--out", str(tmp_path / "out")])
    assert where in str(info.value) and "\n" not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
