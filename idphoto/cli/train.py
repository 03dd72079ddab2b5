"""`idphoto train`: trains the GAN on an ingest output, tracked in MLflow."""

from __future__ import annotations

import argparse


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
        "--config", required=True, help="training config, e.g. configs/train/dcgan64.yaml"
    )
    parser.add_argument("--out", help="run folder (default runs/<run name>)")
    parser.add_argument("--steps", type=int, help="total training steps (overrides schedule.steps)")
    parser.add_argument(
        "--use", help="the use the run is for; must match the dataset's (default: the dataset's)"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the resolved config and strategy, then stop"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from idphoto.config import parse_override
    from idphoto.errors import UserError
    from idphoto.training.config import load_train_config

    if args.steps is not None and args.steps < 1:
        raise UserError("--steps must be at least 1")
    overrides = dict(parse_override(item) for item in args.set)
    if args.steps is not None:
        overrides["schedule.steps"] = args.steps
    cfg = load_train_config(args.config, overrides)
    _validate(cfg)

    # TensorFlow is imported only now: flag and config errors above come back in a moment.
    from idphoto.training import session

    return session.run_training(cfg, args.data, args.out, args.use, args.dry_run, args.config)


def _validate(cfg) -> None:
    from idphoto.errors import UserError

    schedule = cfg.schedule
    for key in ("steps", "log_every", "sample_every", "checkpoint_every", "eval_every"):
        if getattr(schedule, key) < 1:
            raise UserError(f"schedule.{key} must be at least 1")
    if cfg.data.batch_size_per_replica < 1:
        raise UserError("data.batch_size_per_replica must be at least 1")
    if not 0.0 <= cfg.ema.decay < 1.0:
        raise UserError("ema.decay must be in [0, 1)")
    if cfg.loss.r1_gamma < 0:
        raise UserError("loss.r1_gamma must be non-negative")
    adaptive = cfg.augment.adaptive
    for key in ("target", "initial_p"):
        if not 0.0 <= getattr(adaptive, key) <= 1.0:
            raise UserError(f"augment.adaptive.{key} must be in [0, 1]")
    for key in ("interval", "images_to_full"):
        if getattr(adaptive, key) < 1:
            raise UserError(f"augment.adaptive.{key} must be at least 1")
