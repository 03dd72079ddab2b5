"""Argument types shared by the subcommands: the one place command-line numbers are range-checked.

Config values are range-checked where their dataclasses declare them (`idphoto.config.bounded`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def integer_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse `type` for integers of at least `minimum` (`--n must be at least 1`)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    parse.__name__ = f"integer of at least {minimum}"
    return parse


positive_int = integer_at_least(1)
non_negative_int = integer_at_least(0)
