"""`idphoto promote`: gated promotion of a run's generator in the MLflow Model Registry."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds the `promote` subcommand."""
    parser = subparsers.add_parser(
        "promote",
        help="register a run's generator and move an alias to it if every gate passes",
        description=(
            "Evaluate the quality, licence and near-copy gates for a training run and the "
            "intended use; when all pass, register the run's generator (model name from its "
            "config) and point the alias at it. A refusal names each failed gate with its "
            "figure and leaves the alias where it was; gate results are recorded either way."
        ),
    )
    parser.add_argument(
        "--run", required=True, help="MLflow run id of a finished training run, or `latest`"
    )
    parser.add_argument("--use", required=True, help="intended use, e.g. research or commercial")
    parser.add_argument("--alias", help="alias to move (default from the config: champion)")
    parser.add_argument(
        "--config", help="gate settings (default: configs/promote/default.yaml of the project)"
    )
    parser.add_argument(
        "--policy",
        metavar="FILE",
        help="also judge the training rows with this licence policy; both it and the policy "
        "the dataset was made with must allow them",
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a gate setting"
    )
    parser.add_argument(
        "--force-quality",
        metavar="REASON",
        help="promote despite failed quality thresholds; the reason is recorded (licence and "
        "near-copy gates cannot be forced)",
    )
    parser.add_argument("--data", help="training dataset folder, if not where the run used it")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from idphoto.config import parse_override
    from idphoto.errors import UserError
    from idphoto.registry.config import load_promote_config

    if args.force_quality is not None and not args.force_quality.strip():
        raise UserError("--force-quality needs a reason")
    cfg = load_promote_config(args.config, dict(parse_override(s) for s in args.set))

    from idphoto.cli.quiet import import_tensorflow

    alias = args.alias or cfg.registry.alias
    print(f"checking run {args.run} for {args.use} use and alias {alias}: quality, licence, "
          "near-copy", flush=True)  # fmt: skip
    import_tensorflow()
    from idphoto.registry.promote import describe, promote

    promotion = promote(
        args.run, args.use, cfg, args.alias, args.force_quality, args.data, args.policy
    )
    print(describe(promotion))
    return 0 if promotion.promoted else 1
