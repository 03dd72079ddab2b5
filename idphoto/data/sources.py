"""Safe access to the photo files a manifest names.

Nothing outside the manifest's folder is ever opened: paths are checked before any read, and
symbolic links are resolved first so that a link pointing out of the folder is caught too.
A hard link cannot be resolved that way: it *is* the file outside, under a second name, and no
path says where its other names lie. So a local file with more than one link is not read.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Sequence

from apache_beam.io.filesystems import FileSystems

from idphoto.errors import PhotoRejected


def resolve_photo_path(root: str, path: str, allowed_schemes: Sequence[str]) -> str:
    """Returns the location of a manifest's photo, or rejects a path that leaves the root.

    Args:
        root: the manifest's folder (local path or `scheme://` URI).
        path: the row's `path` value.
        allowed_schemes: remote URI schemes that may be read (`gs`, `s3`).

    Raises:
        PhotoRejected: `unsupported_scheme`, `path_traversal`, `path_outside_root`, `not_a_file`
            or `hard_link`.
    """
    scheme, sep, _ = path.partition("://")
    if sep:
        if scheme.lower() not in allowed_schemes:
            raise PhotoRejected("unsupported_scheme", f"{scheme}:// is not an allowed scheme")
        if ".." in path.split("/"):
            raise PhotoRejected("path_traversal", "path contains '..'")
        return path
    if "\x00" in path:
        raise PhotoRejected("path_traversal", "path contains a NUL byte")
    parts = path.replace("\\", "/").split("/")
    if ".." in parts:
        raise PhotoRejected("path_traversal", "path contains '..'")
    if "://" in root:
        if path.startswith("/"):
            raise PhotoRejected("path_outside_root", "absolute path under a remote manifest")
        return posixpath.join(root, path)
    return _resolve_local(root, path)


def _resolve_local(root: str, path: str) -> str:
    real_root = os.path.realpath(root)
    # realpath follows every symlink, so a link inside the root that points out is caught here.
    real = os.path.realpath(os.path.join(real_root, path))
    if os.path.commonpath([real_root, real]) != real_root:
        where = "a symlink out of" if not os.path.isabs(path) else "outside"
        raise PhotoRejected("path_outside_root", f"path resolves {where} the manifest folder")
    try:
        status = os.stat(real)
    except OSError:
        return real  # missing (or unreadable): the read reports it
    if not stat.S_ISREG(status.st_mode):
        # A folder, FIFO or device would hang or fail the read; it is never a photo.
        raise PhotoRejected("not_a_file", "path is not a regular file")
    if status.st_nlink > 1:
        # Another name of this inode may lie outside the root; finding it would mean a scan.
        raise PhotoRejected("hard_link", f"file has {status.st_nlink} hard links; copy it instead")
    return real


def read_photo_bytes(location: str, max_bytes: int) -> bytes:
    """Reads a photo file, refusing files larger than `max_bytes` without reading them whole.

    Raises:
        PhotoRejected: `missing_file`, `unreadable_file`, `empty_file` or `file_too_large`.
    """
    try:
        with FileSystems.open(location, compression_type="uncompressed") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise PhotoRejected("missing_file", "file not found") from None
    except Exception as err:  # each Beam filesystem raises its own error types
        if not FileSystems.exists(location):
            raise PhotoRejected("missing_file", "file not found") from None
        raise PhotoRejected("unreadable_file", str(err).splitlines()[0][:200]) from None
    if not data:
        raise PhotoRejected("empty_file", "zero-byte file")
    if len(data) > max_bytes:
        raise PhotoRejected("file_too_large", f"larger than {max_bytes} bytes")
    return data
