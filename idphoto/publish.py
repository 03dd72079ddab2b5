"""Atomic publication of an output folder: work in a staging folder, then move it into place.

Every command that writes a folder (`ingest --out`, `generate --out`) goes through here. On a
local disk the staging folder is renamed, which is atomic: the output is at every moment the old
complete folder, absent, or the new complete one. Object stores (`gs://`, `s3://`) have no folder
rename, so files are moved one by one with a completion file last: a dataset folder without
`dataset_info.json` does not load.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import uuid

from idphoto.errors import UserError

_STAGING_MARK = ".partial-"
# Fault injection for the reliability tests: with this variable set to a fail point's name, the
# process kills itself there, as a power cut or `kill -9` would (see `_fail_point`).
FAIL_POINT_ENV = "IDPHOTO_FAIL_POINT"
BEFORE_RENAME = "publish.before_rename"


def is_remote(path: str) -> bool:
    """Whether `path` is a URI of an object store rather than a local path."""
    return "://" in path


def prepare_staging(out: str, overwrite: bool, flag: str = "--out") -> str:
    """Checks that `out` may be written and returns a fresh staging folder beside it.

    Staging folders left by killed runs for the same `out` are removed first.

    Args:
        out: the folder to publish to.
        overwrite: whether a non-empty `out` may be replaced.
        flag: the command-line flag that named `out`, for error messages.

    Raises:
        UserError: `out` is not empty and `overwrite` is false, is a file, is the current folder
            or one of its parents, or its parent cannot be written.
    """
    if is_remote(out):
        out = out.rstrip("/")
        if _remote_exists(out) and not overwrite:
            raise UserError(f"{flag} {out} is not empty; pass --overwrite to replace it")
        return f"{out}{_STAGING_MARK}{uuid.uuid4().hex[:8]}"
    out = os.path.abspath(out)  # normalises `..`
    cwd = os.getcwd()
    if out == cwd or cwd.startswith(out.rstrip(os.sep) + os.sep):
        # Publishing swaps the whole folder: never the one we stand in or one above it.
        raise UserError(f"{flag} {out} must not be the current folder or one of its parents")
    if os.path.lexists(out):
        if not os.path.isdir(out):
            raise UserError(f"{flag} {out} is a file, not a folder")
        if os.listdir(out) and not overwrite:
            raise UserError(f"{flag} {out} is not empty; pass --overwrite to replace it")
    parent = os.path.dirname(out)
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create {parent}: {err.strerror or err}") from None
    if not os.access(parent, os.W_OK):
        raise UserError(f"{flag} folder {parent} is not writable")
    _remove_stale_staging(parent, os.path.basename(out))
    staging = os.path.join(parent, f"{os.path.basename(out)}{_STAGING_MARK}{uuid.uuid4().hex[:8]}")
    try:
        os.makedirs(staging)
    except OSError as err:
        raise UserError(f"cannot write beside {flag} {out}: {err.strerror or err}") from None
    return staging


def publish(staging: str, out: str, last: str | None = None) -> None:
    """Moves a complete staging folder to `out`, replacing what was there.

    Args:
        staging: the folder from `prepare_staging`.
        out: the folder to publish to.
        last: on object stores, the file moved after all others (a completion marker).
    """
    if is_remote(out):
        _publish_file_by_file(staging, out.rstrip("/"), last)
        return
    out = os.path.abspath(out)
    retired = None
    if os.path.lexists(out):
        retired = f"{out}{_STAGING_MARK}old-{uuid.uuid4().hex[:8]}"
        os.rename(out, retired)
    _fail_point(BEFORE_RENAME)
    os.rename(staging, out)
    if retired:
        shutil.rmtree(retired, ignore_errors=True)


def discard(staging: str) -> None:
    """Removes a staging folder after a failed run."""
    if is_remote(staging):
        if _remote_exists(staging):
            _filesystems().delete([staging + "/"])
    else:
        shutil.rmtree(staging, ignore_errors=True)


def _publish_file_by_file(staging: str, out: str, last: str | None) -> None:
    filesystems = _filesystems()
    if _remote_exists(out):
        filesystems.delete([out + "/"])
    sources = sorted(m.path for m in filesystems.match([staging + "/*"])[0].metadata_list)
    # The completion file goes last, so a reader never sees a loadable but partial folder.
    sources.sort(key=lambda path: filesystems.split(path)[1] == last)
    for source in sources:
        name = filesystems.split(source)[1]
        filesystems.rename([source], [filesystems.join(out, name)])
    discard(staging)


def _fail_point(name: str) -> None:
    # A moment no outside observer can catch (microseconds between two renames), so the tests
    # ask the process to die there itself.
    if os.environ.get(FAIL_POINT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _remote_exists(path: str) -> bool:
    return bool(_filesystems().match([path + "/*"])[0].metadata_list)


def _remove_stale_staging(parent: str, name: str) -> None:
    """Removes staging folders of killed runs; they never hold a complete output. Only our own
    names (`<out>.partial-<8 hex>`, `<out>.partial-old-<8 hex>`) are touched."""
    stale = re.compile(re.escape(name + _STAGING_MARK) + r"(old-)?[0-9a-f]{8}")
    for sibling in os.listdir(parent):
        path = os.path.join(parent, sibling)
        if stale.fullmatch(sibling) and os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)


def _filesystems():
    # Beam's file systems are loaded only for remote paths: importing Beam costs seconds and
    # logs start-up warnings, which `sample-data` and `generate` (local folders) need neither of.
    from apache_beam.io.filesystems import FileSystems

    return FileSystems
