"""Readers of photo manifests: CSV, JSON Lines and FFHQ's `ffhq-dataset-v2.json`.

Each reader is a generator of plain dicts with the keys of `FIELDS` plus `line` (the 1-based
line, or record number for FFHQ, that the row came from). Values stay as found at the source;
consent and landmarks are parsed later so that a bad value rejects one row, not the job.
A manifest that cannot be read as a whole (missing column, bad JSON, empty id) raises
`ManifestError` naming the file and line.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import posixpath
from collections.abc import Iterator
from typing import Any

from apache_beam.io.filesystems import FileSystems

from idphoto.errors import UserError

REQUIRED = ("id", "path", "licence")
OPTIONAL = ("author", "source_url", "title", "consent", "landmarks")
FIELDS = REQUIRED + OPTIONAL
# Spellings users bring from other tools, mapped to ours.
_ALIASES = {"license": "licence", "url": "source_url", "photo_url": "source_url"}


class ManifestError(UserError):
    """The manifest as a whole cannot be read; the message names the file and line."""


def manifest_format(path: str) -> str:
    """Returns `csv`, `jsonl` or `ffhq` from the manifest's file name."""
    name = path.lower().removesuffix(".gz")
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith(".json"):
        return "ffhq"
    raise ManifestError(f"{path}: unknown manifest type (expected .csv, .jsonl or .json)")


def manifest_root(path: str) -> str:
    """Returns the folder that relative photo paths in the manifest are resolved against."""
    return posixpath.dirname(path) if "://" in path else _local_dirname(path)


def read_manifest(path: str) -> Iterator[dict[str, Any]]:
    """Yields the manifest's rows in file order.

    Args:
        path: a local path or a URI Beam can read (`gs://...`).

    Returns:
        An iterator of dicts with the keys of `FIELDS` and `line`.

    Raises:
        ManifestError: on the first line that makes the manifest unreadable.
    """
    kind = manifest_format(path)
    try:
        handle = FileSystems.open(path)
    except Exception as err:  # Beam raises its own IOError subclasses per filesystem
        raise ManifestError(f"cannot open manifest {path}: {_first_line(err)}") from None
    with handle:
        reader = {"csv": _read_csv, "jsonl": _read_jsonl, "ffhq": _read_ffhq}[kind]
        yield from reader(handle, path)


def count_rows(path: str) -> int:
    """Reads the whole manifest once, so that a malformed one fails before any work starts."""
    return sum(1 for _ in read_manifest(path))


def _read_csv(handle: io.BufferedIOBase, path: str) -> Iterator[dict[str, Any]]:
    reader = csv.reader(_decoded_lines(handle, path))
    try:
        header = next(reader, None)
        if header is None:
            raise ManifestError(f"{path}: empty manifest (no header line)")
        columns = _columns(header, path)
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue  # blank line
            if len(record) != len(columns):
                raise ManifestError(
                    f"{path} line {line}: {len(record)} fields, header has {len(columns)}"
                )
            yield _row(dict(zip(columns, record, strict=True)), line, path)
    except csv.Error as err:
        raise ManifestError(f"{path} line {reader.line_num}: {err}") from None


def _decoded_lines(handle: io.BufferedIOBase, path: str) -> Iterator[str]:
    """Decodes the file line by line, so that a byte that is not UTF-8 is reported on its line.

    (A TextIOWrapper decodes in 8 KiB chunks and fails lines ahead of the reader.) Lines end at
    LF, CRLF or a lone CR, as csv expects; the first line loses its byte-order mark.
    """
    number = 0
    for raw in _raw_lines(handle):
        # UTF-8 never uses the bytes of CR or LF inside a character, so splitting first is safe.
        for piece in raw.splitlines(keepends=True):
            number += 1
            try:
                yield piece.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as err:
                raise ManifestError(
                    f"{path} line {number}: not valid UTF-8 (byte 0x{piece[err.start]:02x})"
                ) from None


def _columns(header: list[str], path: str) -> list[str]:
    columns = [_ALIASES.get(c.strip().lower(), c.strip().lower()) for c in header]
    seen = set()
    for column in columns:
        if column in seen:
            raise ManifestError(f"{path} line 1: column {column!r} appears twice")
        seen.add(column)
    missing = [c for c in REQUIRED if c not in seen]
    if missing:
        raise ManifestError(f"{path} line 1: missing required column {missing[0]!r}")
    return columns


def _read_jsonl(handle: io.BufferedIOBase, path: str) -> Iterator[dict[str, Any]]:
    for line, raw in enumerate(_raw_lines(handle), start=1):
        try:
            text = raw.decode("utf-8-sig" if line == 1 else "utf-8").strip()
        except UnicodeDecodeError:
            raise ManifestError(f"{path} line {line}: not valid UTF-8") from None
        if not text:
            continue
        try:
            record = json.loads(text)
        except (ValueError, RecursionError) as err:
            why = _json_error(err)
            raise ManifestError(f"{path} line {line}: not valid JSON ({why})") from None
        if not isinstance(record, dict):
            raise ManifestError(f"{path} line {line}: expected a JSON object")
        record = {_ALIASES.get(k.lower(), k.lower()): v for k, v in record.items()}
        for column in REQUIRED:
            if column not in record:
                raise ManifestError(f"{path} line {line}: missing required field {column!r}")
        yield _row(record, line, path)


def _read_ffhq(handle: io.BufferedIOBase, path: str) -> Iterator[dict[str, Any]]:
    """Reads FFHQ's metadata: the in-the-wild photo when present, else the aligned one."""
    try:
        records = json.load(handle)
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError is a ValueError too
        where = f" line {err.lineno}" if isinstance(err, json.JSONDecodeError) else ""
        raise ManifestError(f"{path}{where}: not valid JSON ({_json_error(err)})") from None
    if not isinstance(records, dict):
        raise ManifestError(f"{path}: expected FFHQ's object of records")
    root = manifest_root(path)
    for number, (key, record) in enumerate(sorted(records.items(), key=_ffhq_order), start=1):
        meta = record.get("metadata") if isinstance(record, dict) else None
        if not isinstance(meta, dict):
            raise ManifestError(f"{path} record {key!r}: not an FFHQ record")
        variants = [record[name] for name in ("in_the_wild", "image") if name in record]
        if not variants:
            raise ManifestError(f"{path} record {key!r}: no image or in_the_wild entry")
        if not all(isinstance(v, dict) and isinstance(v.get("file_path"), str) for v in variants):
            raise ManifestError(f"{path} record {key!r}: an image entry has no file_path text")
        chosen = next(
            (v for v in variants if FileSystems.exists(_join(root, v["file_path"]))),
            variants[-1],
        )
        fields = {
            "id": key,
            "path": chosen["file_path"],
            "licence": meta.get("license", ""),
            "author": meta.get("author", ""),
            "source_url": meta.get("photo_url", ""),
            "title": meta.get("photo_title", ""),
            "landmarks": chosen.get("face_landmarks"),
        }
        yield _row(fields, number, path)


def _row(record: dict[str, Any], line: int, path: str) -> dict[str, Any]:
    row = {field: record.get(field) for field in FIELDS}
    for field in ("id", "path"):
        value = row[field]
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise ManifestError(f"{path} line {line}: empty or non-text {field}")
        row[field] = value.strip()
    for field in ("licence", "author", "source_url", "title"):
        value = row[field]
        row[field] = "" if value is None else str(value)
    row["line"] = line
    return row


def parse_consent(raw: Any) -> bool | None:
    """Parses a consent value: true/false/yes/no/1/0; empty or missing is None.

    Raises:
        ValueError: for any other value.
    """
    if raw is None or isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("", "none", "null", "na", "n/a"):
        return None
    if text in ("true", "yes", "y", "1"):
        return True
    if text in ("false", "no", "n", "0"):
        return False
    raise ValueError(f"consent must be true or false, got {str(raw)[:40]!r}")


def parse_landmarks(raw: Any) -> list[list[float]] | None:
    """Parses 5 or 68 (x, y) points from a list, a JSON string or `x y x y ...` text.

    Returns:
        A list of [x, y] pairs, or None when the value is empty.

    Raises:
        ValueError: when the value is not 5 or 68 finite points.
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    values = raw
    if isinstance(raw, str):
        text = raw.strip()
        try:
            values = json.loads(text) if text[0] in "[{" else text.replace(",", " ").split()
        except json.JSONDecodeError:
            raise ValueError("landmarks are not valid JSON") from None
    try:
        flat = [float(v) for v in _flatten(values)]
    except (TypeError, ValueError):
        raise ValueError("landmarks must be numbers") from None
    if len(flat) not in (10, 136) or not all(math.isfinite(v) for v in flat):
        raise ValueError(f"landmarks must be 5 or 68 finite (x, y) points, got {len(flat)} values")
    return [flat[i : i + 2] for i in range(0, len(flat), 2)]


def _flatten(values: Any) -> Iterator[Any]:
    if isinstance(values, dict):
        raise TypeError("landmarks must be a list")
    for value in values:
        if isinstance(value, list | tuple):
            yield from _flatten(value)
        else:
            yield value


def _ffhq_order(item: tuple[str, Any]) -> tuple[int, str]:
    key = item[0]
    # isdigit() alone admits "²", which int() refuses; FFHQ's keys are ASCII digits.
    return (int(key), key) if key.isascii() and key.isdigit() and len(key) < 19 else (1 << 62, key)


def _raw_lines(handle: io.BufferedIOBase) -> Iterator[bytes]:
    # readline, not iteration: Beam's CompressedFile (a .gz manifest) is not iterable.
    return iter(handle.readline, b"")


def _json_error(err: BaseException) -> str:
    if isinstance(err, json.JSONDecodeError):
        return err.msg
    if isinstance(err, RecursionError):
        return "nested too deeply"
    if isinstance(err, UnicodeDecodeError):
        return "not UTF-8"
    return "a number too long to read"  # int() refuses over 4300 digits (CVE-2020-10735)


def _join(root: str, relative: str) -> str:
    return FileSystems.join(root, relative) if root else relative


def _local_dirname(path: str) -> str:
    return os.path.dirname(os.path.abspath(path))


def _first_line(err: BaseException) -> str:
    return (str(err) or type(err).__name__).splitlines()[0]
