"""Live progress of an ingest on this machine: rows decided, counted by the launcher.

Beam's metrics reach the launcher only when a DirectRunner job has ended, so they cannot draw a
progress bar. Instead, while `idphoto ingest` runs, it sets `ENV` in its environment, which only
the processes it starts inherit (the DirectRunner's workers, or its own threads in in-memory and
loopback modes). Each of them then writes one `MARKER` line per manifest row decided to the
stderr it inherited; the launcher's stderr filter (`idphoto.cli.quiet.filtered_stderr`) counts
those lines for the bar instead of printing them. Workers of remote runners never see `ENV` and
write nothing (their runner's UI shows progress).
"""

from __future__ import annotations

import os

ENV = "IDPHOTO_INGEST_PROGRESS"
MARKER = b"idphoto-ingest: row decided"


def row_decided() -> None:
    """Reports one manifest row decided (accepted or rejected), when a launcher listens."""
    if os.environ.get(ENV) == "1":
        # One write of a short line: atomic on a pipe, so markers from many workers never mix.
        os.write(2, MARKER + b"\n")
