"""`idphoto licence classify`: shows how the licence policy judges licence strings."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from idphoto.errors import UserError

if TYPE_CHECKING:
    from idphoto.licences import Decision


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds the `licence` subcommand and its `classify` action."""
    parser = subparsers.add_parser(
        "licence",
        help="normalise licence strings and judge them by the licence policy",
        description="Normalise licence strings and judge them by the licence policy.",
    )
    actions = parser.add_subparsers(dest="licence_command", metavar="ACTION")
    actions.required = True
    classify = actions.add_parser(
        "classify",
        help="print the SPDX id, class and decision of each licence string",
        description=(
            "Print, per licence string and in order, its SPDX id, licence class, whether the "
            "policy allows it for --use, the reject reason and the obligations. Reads one "
            "string per line from stdin when none are given; an empty line is an (empty) licence."
        ),
    )
    classify.add_argument(
        "strings", nargs="*", metavar="STRING", help="licence strings as found at the source"
    )
    classify.add_argument(
        "--use",
        help="intended use (default: `default_use` of the licence policy)",
    )
    classify.add_argument("--json", action="store_true", help="print one JSON object per line")
    classify.add_argument(
        "--policy",
        metavar="FILE",
        help="licence policy YAML (default: configs/licence_policy.yaml)",
    )
    classify.add_argument(
        "--consent",
        choices=("true", "false"),
        help=(
            "also apply the consent rules, as for a photo whose consent column holds this value "
            "(default: judge the licence alone)"
        ),
    )
    classify.set_defaults(func=_classify)


def _classify(args: argparse.Namespace) -> int:
    from idphoto.licences import load_policy

    policy = load_policy(args.policy)
    use = args.use if args.use is not None else policy.default_use
    try:
        policy.check_use(use)
    except UserError as err:
        raise UserError(f"--use: {err}") from None
    consent = None if args.consent is None else args.consent == "true"
    strings = args.strings if args.strings else _stdin_lines()
    try:
        for index, text in enumerate(strings):
            if consent is None:
                decision = policy.judge_licence(text, use)
            else:
                decision = policy.judge(text, use, consent)
            if index == 0 and not args.json:
                print(_TEXT_HEADER)
            print(_json_line(text, decision) if args.json else _text_line(text, decision))
            sys.stdout.flush()  # one answer per line as it comes, for interactive and piped use
    except BrokenPipeError:  # `... | head` closed the pipe: stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _stdin_lines() -> Iterator[str]:
    if sys.stdin.isatty():
        print("reading licence strings from stdin, one per line (Ctrl-D ends)", file=sys.stderr)
    for line in sys.stdin:
        yield line.removesuffix("\n").removesuffix("\r")


def _json_line(text: str, decision: Decision) -> str:
    return json.dumps(
        {
            "input": text,
            "spdx": decision.spdx,
            "class": decision.licence_class,
            "allowed": decision.allowed,
            "reason": decision.reason,
            "obligations": list(decision.obligations),
        },
        ensure_ascii=False,
    )


# Fixed widths keep streamed lines aligned without reading all input first.
_TEXT_COLUMNS = "{:<7} {:<22} {:<22} {:<22} {:<34} {}"
_TEXT_HEADER = _TEXT_COLUMNS.format(
    "VERDICT", "SPDX", "CLASS", "REASON", "OBLIGATIONS", "<- INPUT"
).rstrip()


def _text_line(text: str, decision: Decision) -> str:
    verdict = "ALLOW" if decision.allowed else "REJECT"
    obligations = ",".join(decision.obligations) or "-"
    return _TEXT_COLUMNS.format(
        verdict,
        decision.spdx or "-",
        decision.licence_class,
        decision.reason,
        obligations,
        f"<- {text!r}",
    )
