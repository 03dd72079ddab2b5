"""`idphoto registry audit`: checks that every alias names a version that passed its gates."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds the `registry audit` subcommand."""
    parser = subparsers.add_parser(
        "registry", help="audit the model registry's aliases against the promotion gates"
    )
    commands = parser.add_subparsers(dest="registry_command", metavar="ACTION", required=True)
    audit = commands.add_parser(
        "audit",
        help="check that every alias names a version that passed every gate for it",
        description=(
            "Check that every alias of every registered model (or of --model) names a version "
            "whose tags record a promotion to that alias with every gate passed, and the "
            "lineage summary. Exits 1 when an alias fails, also after --fix has repaired it, "
            "so a scheduler notices."
        ),
    )
    audit.add_argument("--model", help="audit this registered model only")
    audit.add_argument(
        "--fix",
        action="store_true",
        help="move a failing alias back to the newest version that passed (or remove it) and "
        "record why on the version it left",
    )
    audit.set_defaults(func=_audit)


def _audit(args: argparse.Namespace) -> int:
    from mlflow.tracking import MlflowClient

    from idphoto.registry.audit import audit, describe
    from idphoto.tracking.runs import check_tracking_server

    check_tracking_server(read_only=not args.fix)
    checks = audit(MlflowClient(), args.model, args.fix)
    print(describe(checks))
    return 0 if all(check.ok for check in checks) else 1
