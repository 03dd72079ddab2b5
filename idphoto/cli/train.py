"""`idphoto train`: trains the GAN on an ingest output, tracked in MLflow."""

from __future__ import annotations

import argparse

from idphoto.cli.arguments import positive_int
from idphoto.training.config import DEFAULT_TRAIN_CONFIG


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds the `train` subcommand."""
    parser = subparsers.add_parser(
        "train",
        help="train the GAN on ingested photos (every GPU, or several machines via TF_CONFIG)",
        description=(
            "Train a GAN on the output of `idphoto ingest` with tf.distribute: MirroredStrategy "
            "over every visible GPU (CPU fallback), MultiWorkerMirroredStrategy when TF_CONFIG "
            "is set. Re-running the same command resumes a killed run from its last checkpoint, "
            "in the same MLflow run (MLFLOW_TRACKING_URI, default sqlite:///mlflow.db)."
        ),
    )
    parser.add_argument("--data", required=True, help="ingest output folder")
    parser.add_argument(
        "--config",
        default=DEFAULT_TRAIN_CONFIG,
        help="training config: a YAML file, or the name of one the project ships "
        f"(dcgan64, fastgan64, ...; default {DEFAULT_TRAIN_CONFIG})",
    )
    parser.add_argument("--out", help="run folder (default runs/<run name>)")
    parser.add_argument(
        "--steps", type=positive_int, help="total training steps (overrides schedule.steps)"
    )
    parser.add_argument(
        "--use", help="the use the run is for; must match the dataset's (default: the dataset's)"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value"
    )
    parser.add_argument(
        "--stop-at-gates",
        nargs="?",
        const="",
        metavar="PROMOTE_CONFIG",
        help="stop after the first evaluation that passes the promotion's quality thresholds "
        "(default: the project's configs/promote/default.yaml); --steps stays the limit",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the resolved config and strategy, then stop"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="print the resolved config before training"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from idphoto.config import parse_override
    from idphoto.training.config import load_train_config, resolve_train_config

    overrides = dict(parse_override(item) for item in args.set)
    if args.steps is not None:
        overrides["schedule.steps"] = args.steps
    args.config = str(resolve_train_config(args.config))
    cfg = load_train_config(args.config, overrides)
    stop_at = None
    if args.stop_at_gates is not None:
        from idphoto.registry.config import load_promote_config

        stop_at = load_promote_config(args.stop_at_gates or None).quality

    # TensorFlow is imported only now: flag and config errors above come back in a moment.
    from idphoto.cli.quiet import import_tensorflow

    import_tensorflow()
    from idphoto.training import session

    return session.run_training(
        cfg, args.data, args.out, args.use, args.dry_run, args.config, stop_at, args.verbose
    )
