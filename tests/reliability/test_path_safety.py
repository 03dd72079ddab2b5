"""Paths that try to leave the manifest's folder are rejected and their targets never opened.

The spies record every path opened through Beam's FileSystems, `open`/`io.open` and `os.open`
while a row goes through the job's per-photo steps, so "rejected" also means "not read".
"""

import builtins
import io
import json
import os

import pytest
from apache_beam.io.filesystems import FileSystems
from hypothesis import given, settings
from hypothesis import strategies as st

from idphoto.data.sources import resolve_photo_path
from idphoto.errors import PhotoRejected
from tests.reliability.corpus import OK, build_file
from tests.reliability.test_photo_corpus import run_photo_steps

SCHEMES = ("gs", "s3")


@pytest.fixture
def layout(tmp_path):
    """`root/` holds the manifest's photos; `outside/secret.png` is a photo it must not reach."""
    photo = build_file("good.png")
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "images").mkdir(parents=True)
    outside.mkdir()
    (root / "images" / "inside.png").write_bytes(photo.data)
    (outside / "secret.png").write_bytes(photo.data)
    return root, outside / "secret.png", photo.landmarks


@pytest.fixture
def opened(monkeypatch):
    """The real paths of every file opened from now on."""
    seen = []

    def spy(real):
        def record(target, *args, **kwargs):
            if isinstance(target, str | bytes | os.PathLike):
                seen.append(os.path.realpath(os.fsdecode(target)))
            return real(target, *args, **kwargs)

        return record

    real_fs_open = FileSystems.open
    monkeypatch.setattr(builtins, "open", spy(builtins.open))
    monkeypatch.setattr(io, "open", spy(io.open))
    monkeypatch.setattr(os, "open", spy(os.open))
    monkeypatch.setattr(FileSystems, "open", staticmethod(spy(real_fs_open)))
    return seen


def _reason(root, path, landmarks):
    row = {
        "id": "x",
        "line": 2,
        "path": path,
        "licence": "CC0-1.0",
        "author": "",
        "source_url": "",
        "title": "",
        "consent": "true",
        "landmarks": json.dumps(landmarks),
    }
    (output,) = run_photo_steps(row, root)
    return OK if isinstance(output, dict) else output.value["reason"]


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../outside/secret.png", "path_traversal"),
        ("images/../../outside/secret.png", "path_traversal"),
        ("images\\..\\..\\outside\\secret.png", "path_traversal"),
        ("{secret}", "path_outside_root"),
        ("/proc/self/root{secret}", "path_outside_root"),
        ("images/inside.png\x00{secret}", "path_traversal"),
    ],
)
def test_path_out_of_the_root_is_rejected_and_its_target_never_opened(layout, opened, path, reason):
    root, secret, landmarks = layout
    assert _reason(root, path.format(secret=secret), landmarks) == reason
    assert str(secret) not in opened


def test_symlink_out_of_the_root_is_rejected_and_its_target_never_opened(layout, opened):
    root, secret, landmarks = layout
    os.symlink(secret, root / "images" / "link.png")
    os.symlink(secret.parent, root / "images" / "linked-folder")
    os.symlink(root / "images" / "link.png", root / "images" / "link-to-link.png")
    for path in ("images/link.png", "images/linked-folder/secret.png", "images/link-to-link.png"):
        assert _reason(root, path, landmarks) == "path_outside_root", path
    assert str(secret) not in opened


def test_symlink_within_the_root_is_followed(layout, opened):
    root, _, landmarks = layout
    os.symlink(root / "images" / "inside.png", root / "images" / "alias.png")
    assert _reason(root, "images/alias.png", landmarks) == OK
    assert str(root / "images" / "inside.png") in opened


def test_hard_link_is_rejected_unread_since_its_other_names_may_lie_outside(layout, opened):
    root, secret, landmarks = layout
    os.link(secret, root / "images" / "hard.png")  # the same inode as the file outside
    assert _reason(root, "images/hard.png", landmarks) == "hard_link"
    assert str(root / "images" / "hard.png") not in opened
    assert str(secret) not in opened


def test_hard_link_is_rejected_even_when_both_names_are_inside(layout):
    # The rule cannot tell where the other names are without scanning the disk; it is kept simple.
    root, _, landmarks = layout
    os.link(root / "images" / "inside.png", root / "images" / "twin.png")
    assert _reason(root, "images/twin.png", landmarks) == "hard_link"
    assert _reason(root, "images/inside.png", landmarks) == "hard_link"


def test_fifo_in_the_root_is_not_a_file_and_is_not_opened(layout, opened):
    root, _, landmarks = layout
    os.mkfifo(root / "images" / "pipe.png")  # opening it for reading would block forever
    assert _reason(root, "images/pipe.png", landmarks) == "not_a_file"
    assert str(root / "images" / "pipe.png") not in opened


@pytest.mark.parametrize(
    "path",
    [
        "file:///etc/passwd",
        "FILE:///etc/passwd",
        "http://example.org/photo.png",
        "https://example.org/photo.png",
        "ftp://example.org/photo.png",
        "hdfs://namenode/photo.png",
    ],
)
def test_url_of_a_scheme_not_configured_is_rejected_unread(layout, opened, path):
    root, _, landmarks = layout
    assert _reason(root, path, landmarks) == "unsupported_scheme"
    assert not [p for p in opened if "passwd" in p or "photo.png" in p]


def test_configured_schemes_come_from_the_ingest_config():
    from idphoto.data.ingest_config import load_ingest_config

    cfg = load_ingest_config()
    assert set(cfg.allowed_schemes) == {"gs", "s3"}
    relaxed = load_ingest_config(overrides={"allowed_schemes": ["gs", "s3", "https"]})
    assert resolve_photo_path("/r", "https://e.org/a.png", relaxed.allowed_schemes)


def test_dot_dot_in_an_allowed_remote_url_is_traversal():
    with pytest.raises(PhotoRejected) as info:
        resolve_photo_path("gs://bucket/photos", "gs://bucket/photos/../private/a.png", SCHEMES)
    assert info.value.reason == "path_traversal"


def test_absolute_local_path_under_a_remote_manifest_is_outside_the_root():
    with pytest.raises(PhotoRejected) as info:
        resolve_photo_path("gs://bucket/photos", "/etc/passwd", SCHEMES)
    assert info.value.reason == "path_outside_root"


_SEGMENTS = ["..", ".", "", "images", "inside.png", "outside", "secret.png", "~", "%2e%2e", "\\"]


@pytest.fixture(scope="module")
def shared_root(tmp_path_factory):
    """A root with links out of it, built once for the many examples of a property test."""
    base = tmp_path_factory.mktemp("paths")
    (base / "root" / "images").mkdir(parents=True)
    (base / "root" / "images" / "inside.png").write_bytes(b"x")
    (base / "outside").mkdir()
    (base / "outside" / "secret.png").write_bytes(b"x")
    os.symlink(base / "outside", base / "root" / "images" / "outside")
    os.symlink(base / "outside" / "secret.png", base / "root" / "secret.png")
    return base / "root"


@settings(max_examples=300, deadline=None)
@given(
    relative=st.lists(st.sampled_from(_SEGMENTS), max_size=6).map("/".join),
    anywhere=st.text(max_size=30),
    absolute=st.booleans(),
)
def test_a_resolved_local_path_never_leaves_the_root(shared_root, relative, anywhere, absolute):
    real_root = os.path.realpath(shared_root)
    for path in (relative, anywhere):
        path = "/" + path if absolute else path
        try:
            resolved = resolve_photo_path(str(shared_root), path, SCHEMES)
        except PhotoRejected:
            continue
        if "://" not in path:
            assert os.path.commonpath([real_root, os.path.realpath(resolved)]) == real_root
