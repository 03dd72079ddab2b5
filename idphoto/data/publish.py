"""Atomic publication of a dataset folder: work in a staging folder, then move it into place.

On a local disk the staging folder is renamed, which is atomic: `--out` is at every moment the
old complete dataset, absent, or the new complete one. Object stores (`gs://`, `s3://`) have no
folder rename, so files are moved one by one with `dataset_info.json` last: a folder without it
does not load as a TFDS dataset.
"""

from __future__ import annotations

import os
import shutil
import uuid

from apache_beam.io.filesystems import FileSystems

from idphoto.errors import UserError

COMPLETION_FILE = "dataset_info.json"  # written last; TFDS will not load a folder without it
_STAGING_MARK = ".partial-"


def is_remote(path: str) -> bool:
    """Whether `path` is a URI of an object store rather than a local path."""
    return "://" in path


def prepare_staging(out: str, overwrite: bool) -> str:
    """Checks that `out` may be written and returns a fresh staging folder beside it.

    Raises:
        UserError: `out` exists and `overwrite` is false, or its parent is not writable.
    """
    if is_remote(out):
        out = out.rstrip("/")
        if _remote_exists(out) and not overwrite:
            raise UserError(f"--out {out} already exists; pass --overwrite to replace it")
        return f"{out}{_STAGING_MARK}{uuid.uuid4().hex[:8]}"
    out = os.path.abspath(out)
    if os.path.exists(out) and not overwrite:
        raise UserError(f"--out {out} already exists; pass --overwrite to replace it")
    parent = os.path.dirname(out)
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create {parent}: {err.strerror}") from None
    if not os.access(parent, os.W_OK):
        raise UserError(f"--out folder {parent} is not writable")
    _remove_stale_staging(parent, os.path.basename(out) + _STAGING_MARK)
    staging = os.path.join(parent, f"{os.path.basename(out)}{_STAGING_MARK}{uuid.uuid4().hex[:8]}")
    os.makedirs(staging)
    return staging


def publish(staging: str, out: str) -> None:
    """Moves a complete staging folder to `out`, replacing an older dataset there."""
    if is_remote(out):
        _publish_file_by_file(staging, out.rstrip("/"))
        return
    out = os.path.abspath(out)
    retired = None
    if os.path.exists(out):
        retired = f"{out}{_STAGING_MARK}old-{uuid.uuid4().hex[:8]}"
        os.rename(out, retired)
    os.rename(staging, out)
    if retired:
        shutil.rmtree(retired, ignore_errors=True)


def discard(staging: str) -> None:
    """Removes a staging folder after a failed run."""
    if is_remote(staging):
        if _remote_exists(staging):
            FileSystems.delete([staging + "/"])
    else:
        shutil.rmtree(staging, ignore_errors=True)


def _publish_file_by_file(staging: str, out: str) -> None:
    if _remote_exists(out):
        FileSystems.delete([out + "/"])
    sources = sorted(m.path for m in FileSystems.match([staging + "/*"])[0].metadata_list)
    # The completion file goes last, so a reader never sees a loadable but partial dataset.
    sources.sort(key=lambda path: FileSystems.split(path)[1] == COMPLETION_FILE)
    for source in sources:
        name = FileSystems.split(source)[1]
        FileSystems.rename([source], [FileSystems.join(out, name)])
    discard(staging)


def _remote_exists(path: str) -> bool:
    return bool(FileSystems.match([path + "/*"])[0].metadata_list)


def _remove_stale_staging(parent: str, prefix: str) -> None:
    """Removes staging folders of killed runs; they never hold a complete dataset."""
    for name in os.listdir(parent):
        if name.startswith(prefix):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
