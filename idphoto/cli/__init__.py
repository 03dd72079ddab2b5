"""The `idphoto` console script: one subcommand per pipeline stage.

Each subcommand lives in its own module with a `register(subparsers)` function that adds its
parser and sets `func`; the logic itself lives in the library packages.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Sequence

from idphoto import __version__
from idphoto.errors import UserError

# Subcommand modules, in the order `idphoto --help` lists them.
_SUBCOMMANDS = (
    "sample_data",
    "licence",
    "ingest",
    "train",
    "promote",
    "keys",
    "generate",
    "detect",
    "lineage",
    "registry",
)


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line: `idphoto <cmd>: error: ...`."""

    def error(self, message: str) -> None:  # noqa: D401 - argparse API
        # "argument --n: must be at least 1" (from `cli.arguments`) reads as "--n must be ...".
        message = re.sub(r"^argument (-[-\w]+)(?:/\S+)?: must ", r"\1 must ", message)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """Returns the top-level parser with every subcommand registered."""
    import importlib

    parser = _Parser(prog="idphoto", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"idphoto {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for name in _SUBCOMMANDS:
        importlib.import_module(f"idphoto.cli.{name}").register(subparsers)
    return parser


class _QuietLibraries(logging.Filter):
    """Drops start-up notices of libraries that are not actionable for users."""

    _NOISE = ("apitools not found", "Discarding unparseable args", "Unparseable argument")

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(text in record.getMessage() for text in self._NOISE)


def _configure_logging() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_QuietLibraries())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the console script; returns the process exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter off
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # runs must work offline
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one per file: noise
    _configure_logging()
    parser = build_parser()
    # Unknown flags are an error, except for commands that pass them on (ingest → Beam options).
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "passes_extra_flags", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra_flags = extra
    try:
        return int(args.func(args) or 0)
    except UserError as err:
        print(f"idphoto {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"idphoto {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
