import json

import pytest

from idphoto.data.manifest import (
    ManifestError,
    count_rows,
    manifest_format,
    parse_consent,
    parse_landmarks,
    read_manifest,
)


def _write(tmp_path, name, content, mode="w"):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return str(path)


def test_csv_rows_keep_their_values_and_line_numbers(tmp_path):
    path = _write(
        tmp_path,
        "m.csv",
        'id,path,licence,author\na,img/a.png,CC BY 2.0,"Doe, Jane"\n\nb,img/b.png,,\n',
    )
    rows = list(read_manifest(path))
    assert [(r["id"], r["licence"], r["author"], r["line"]) for r in rows] == [
        ("a", "CC BY 2.0", "Doe, Jane", 2),
        ("b", "", "", 4),
    ]
    assert rows[0]["consent"] is None and rows[0]["landmarks"] is None


def test_csv_with_bom_crlf_and_license_spelling_is_read(tmp_path):
    path = _write(tmp_path, "m.csv", "\ufeffID,Path,License\r\nx,x.png,CC0-1.0\r\n".encode())
    (row,) = read_manifest(path)
    assert (row["id"], row["path"], row["licence"]) == ("x", "x.png", "CC0-1.0")


def test_csv_missing_required_column_names_the_column_and_line(tmp_path):
    path = _write(tmp_path, "m.csv", "id,path\na,a.png\n")
    with pytest.raises(ManifestError, match=r"line 1: missing required column 'licence'"):
        count_rows(path)


def test_csv_row_with_extra_fields_names_its_line(tmp_path):
    path = _write(tmp_path, "m.csv", "id,path,licence\na,a.png,CC0\nb,b.png,CC0,oops\n")
    with pytest.raises(ManifestError, match="line 3: 4 fields"):
        count_rows(path)


def test_csv_empty_id_names_its_line(tmp_path):
    path = _write(tmp_path, "m.csv", "id,path,licence\n ,a.png,CC0\n")
    with pytest.raises(ManifestError, match="line 2: empty or non-text id"):
        count_rows(path)


def test_jsonl_bad_json_names_the_line(tmp_path):
    path = _write(tmp_path, "m.jsonl", '{"id": "a", "path": "a.png", "licence": "CC0"}\n{oops\n')
    with pytest.raises(ManifestError, match="m.jsonl line 2: not valid JSON"):
        count_rows(path)


def test_jsonl_rows_accept_numbers_lists_and_booleans(tmp_path):
    record = {
        "id": 7,
        "path": "a.png",
        "licence": "CC0",
        "consent": False,
        "landmarks": [[1, 2]] * 5,
    }
    path = _write(tmp_path, "m.jsonl", json.dumps(record) + "\n")
    (row,) = read_manifest(path)
    assert row["id"] == "7" and row["consent"] is False and row["landmarks"] == [[1, 2]] * 5


def test_ffhq_metadata_uses_in_the_wild_photo_when_present(tmp_path):
    (tmp_path / "in-the-wild-images").mkdir()
    (tmp_path / "in-the-wild-images" / "00000.png").write_bytes(b"x")
    points = [[float(i), float(i)] for i in range(68)]
    records = {
        "1": {
            "metadata": {
                "license": "Attribution-NonCommercial License",
                "author": "B",
                "photo_url": "https://flickr.com/1",
                "photo_title": "t1",
            },
            "image": {"file_path": "images1024x1024/00001.png", "face_landmarks": points},
            "in_the_wild": {"file_path": "in-the-wild-images/00001.png", "face_landmarks": points},
        },
        "0": {
            "metadata": {
                "license": "Attribution License",
                "author": "A",
                "photo_url": "https://flickr.com/0",
                "photo_title": "t0",
            },
            "image": {"file_path": "images1024x1024/00000.png", "face_landmarks": points},
            "in_the_wild": {"file_path": "in-the-wild-images/00000.png", "face_landmarks": points},
        },
    }
    path = _write(tmp_path, "ffhq-dataset-v2.json", json.dumps(records))
    rows = list(read_manifest(path))
    assert [r["id"] for r in rows] == ["0", "1"]
    assert rows[0]["path"] == "in-the-wild-images/00000.png"
    assert rows[1]["path"] == "images1024x1024/00001.png"  # its in-the-wild file is absent
    assert (
        rows[0]["licence"] == "Attribution License"
        and rows[0]["source_url"] == "https://flickr.com/0"
    )
    assert len(rows[0]["landmarks"]) == 68


def test_unknown_manifest_extension_is_refused():
    with pytest.raises(ManifestError, match="unknown manifest type"):
        manifest_format("photos.xlsx")


def test_missing_manifest_is_a_one_line_error(tmp_path):
    with pytest.raises(ManifestError, match="cannot open manifest"):
        count_rows(str(tmp_path / "absent.csv"))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("Yes", True),
        ("1", True),
        ("false", False),
        ("NO", False),
        ("", None),
        (None, None),
        (False, False),
    ],
)
def test_consent_values_are_parsed(raw, expected):
    assert parse_consent(raw) is expected


def test_unparseable_consent_is_an_error():
    with pytest.raises(ValueError):
        parse_consent("maybe")


@pytest.mark.parametrize(
    "raw",
    ["[[1,2],[3,4],[5,6],[7,8],[9,10]]", "1 2 3 4 5 6 7 8 9 10", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]],
)
def test_five_landmarks_parse_from_json_text_or_lists(raw):
    assert parse_landmarks(raw) == [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]]


@pytest.mark.parametrize(
    "raw", ["[[1,2]]", "[1, 2, 3", "a b c d e f g h i j", "[1,2,3,4,5,6,7,8,9,NaN]", '{"x": 1}']
)
def test_bad_landmarks_are_rejected(raw):
    with pytest.raises(ValueError):
        parse_landmarks(raw)
