import contextlib
import os
import threading

import pytest

from idphoto.data.ingest_config import load_ingest_config
from idphoto.data.photo import read_source
from idphoto.data.sources import read_photo_bytes, resolve_photo_path
from idphoto.errors import PhotoRejected

SCHEMES = ("gs", "s3")
CFG = load_ingest_config()


@pytest.fixture
def root(tmp_path):
    (tmp_path / "root" / "images").mkdir(parents=True)
    (tmp_path / "root" / "images" / "a.png").write_bytes(b"png")
    (tmp_path / "secret.png").write_bytes(b"secret")
    return tmp_path / "root"


def _reason(root, path):
    with pytest.raises(PhotoRejected) as info:
        resolve_photo_path(str(root), path, SCHEMES)
    return info.value.reason


def test_relative_path_inside_the_root_resolves(root):
    assert resolve_photo_path(str(root), "images/a.png", SCHEMES) == str(root / "images" / "a.png")


def test_absolute_path_inside_the_root_is_allowed(root):
    path = str(root / "images" / "a.png")
    assert resolve_photo_path(str(root), path, SCHEMES) == path


def test_dot_dot_is_rejected_even_when_it_would_stay_inside(root):
    assert _reason(root, "../secret.png") == "path_traversal"
    assert _reason(root, "images/../images/a.png") == "path_traversal"


def test_absolute_path_elsewhere_is_rejected(root, tmp_path):
    assert _reason(root, str(tmp_path / "secret.png")) == "path_outside_root"


def test_symlink_out_of_the_root_is_rejected(root, tmp_path):
    os.symlink(tmp_path / "secret.png", root / "images" / "link.png")
    assert _reason(root, "images/link.png") == "path_outside_root"


def test_folder_is_not_a_photo(root):
    assert _reason(root, "images") == "not_a_file"


@contextlib.contextmanager
def _readers_of(fifo):
    """Counts the opens of a FIFO for reading while the block runs, and ends each such read at
    once (by opening and closing the write end), so a test that opens the FIFO fails, not hangs."""
    opened = []
    done = threading.Event()

    def watch():
        while not done.is_set():
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:  # ENXIO: nobody has it open for reading
                done.wait(0.01)
            else:
                opened.append(fifo)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield opened
    finally:
        done.set()
        watcher.join()


def _read_reason(root, path):
    with pytest.raises(PhotoRejected) as info:
        read_source({"path": path}, str(root), CFG)
    return info.value.reason


def test_fifo_is_not_a_photo_and_is_never_opened(root):
    os.mkfifo(root / "images" / "pipe.png")
    os.symlink("pipe.png", root / "images" / "link.png")
    with _readers_of(root / "images" / "pipe.png") as opened:
        assert _read_reason(root, "images/pipe.png") == "not_a_file"
        assert _read_reason(root, "images/link.png") == "not_a_file"
    assert opened == []


def test_device_is_not_a_photo(root):
    # A device can only lie under a root such as /dev; a link to one from elsewhere leaves it.
    assert _read_reason("/dev", "null") == "not_a_file"
    os.symlink("/dev/null", root / "images" / "null.png")
    assert _read_reason(root, "images/null.png") == "path_outside_root"


def test_unconfigured_scheme_is_rejected_and_configured_one_passes(root):
    assert _reason(root, "http://example.org/a.png") == "unsupported_scheme"
    assert _reason(root, "file:///etc/passwd") == "unsupported_scheme"
    assert resolve_photo_path(str(root), "gs://bucket/a.png", SCHEMES) == "gs://bucket/a.png"


def test_missing_empty_and_oversized_files_are_rejected(root):
    (root / "empty.png").write_bytes(b"")
    (root / "big.png").write_bytes(b"x" * 101)
    for name, reason in (
        ("nope.png", "missing_file"),
        ("empty.png", "empty_file"),
        ("big.png", "file_too_large"),
    ):
        with pytest.raises(PhotoRejected) as info:
            read_photo_bytes(str(root / name), max_bytes=100)
        assert info.value.reason == reason
    assert read_photo_bytes(str(root / "images" / "a.png"), max_bytes=100) == b"png"


def test_a_read_that_fails_is_unreadable_file_not_missing_file(root):
    # A folder exists but cannot be read as a file, as root too (unlike a file of mode 000).
    with pytest.raises(PhotoRejected) as info:
        read_photo_bytes(str(root / "images"), max_bytes=100)
    assert info.value.reason == "unreadable_file"
    assert "Is a directory" in info.value.detail
