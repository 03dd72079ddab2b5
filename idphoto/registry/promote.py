"""`idphoto promote`: registers a run's generator and moves an alias to it only when every gate
passes. Every gate is evaluated on every promotion, and its result is recorded either way."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import os
import tempfile

import fasteners
import mlflow
import numpy as np
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from tqdm import tqdm

from idphoto.data import dataset as ingested
from idphoto.data.lineage import ACCEPTED
from idphoto.errors import UserError
from idphoto.licences import load_policy
from idphoto.registry import gates
from idphoto.registry.config import PromoteConfig
from idphoto.registry.nearcopy import nearest_training_photos, pairs_figure
from idphoto.tracking import tags
from idphoto.tracking.lineage import summary_from_tags, violations
from idphoto.tracking.runs import check_tracking_server
from idphoto.tracking.training_runs import RunDataset, download_run_dataset, find_training_run

GENERATOR = "generator"  # the run's MLflow model artifact
DEFAULT_MODEL_NAME = "idphoto-generator"


@dataclasses.dataclass(frozen=True)
class Promotion:
    """The outcome of one promotion attempt."""

    run_id: str
    model_name: str
    alias: str
    use: str
    gates: tuple[gates.GateResult, ...]
    version: str | None  # the version the alias now names; None when refused
    previous_version: str | None  # what the alias named before

    @property
    def promoted(self) -> bool:
        """Whether every gate passed and the alias moved."""
        return self.version is not None


def promote(
    run_id: str,
    use: str,
    cfg: PromoteConfig,
    alias: str | None = None,
    force_quality: str | None = None,
    data_dir: str | None = None,
    policy_path: str | None = None,
) -> Promotion:
    """Evaluates every gate for `run_id` and `use`; on success registers and aliases the model.

    Args:
        run_id: the training run, or `latest` for the most recent finished one.
        use: the intended use the licence gate checks every training row against.
        cfg: the gates' settings.
        alias: the alias to move (default `cfg.registry.alias`).
        force_quality: a reason to promote despite failed quality thresholds; recorded.
        data_dir: the training dataset, when not where the run recorded it.
        policy_path: a licence policy to judge with beside the one the dataset was made with;
            both must allow every training row.

    Raises:
        UserError: the tracking server, the run or its model cannot be found, or `use` is not
            one of the policy's uses — before any gate is evaluated.
    """
    check_tracking_server()
    client = MlflowClient()
    run = find_training_run(client, run_id)
    run_id = run.info.run_id
    logged = download_run_dataset(client, run)
    other = load_policy(policy_path) if policy_path else None
    for policy in [p for p in (logged.policy, other) if p is not None] or [load_policy()]:
        policy.check_use(use)
    alias = alias or cfg.registry.alias
    model_name = run.data.params.get("tracking.model_name", DEFAULT_MODEL_NAME)
    model_uri = f"runs:/{run_id}/{GENERATOR}"
    registered_uri = _check_model(model_uri)
    licence = _licence(logged, use, other, policy_path)
    near_copy = _near_copy(client, run, model_uri, cfg, alias, data_dir)
    # The alias holder is read, compared with and replaced under one lock, so two promotions
    # racing for an alias end with the better model holding it, each having run every gate.
    with _alias_lock(model_name, alias):
        holder = _alias_holder(client, model_name, alias)
        holder_swd = None
        if holder is not None and holder.run_id != run_id:
            holder_swd = client.get_run(holder.run_id).data.metrics.get("swd")
        quality = gates.quality_gate(run.data.metrics, cfg.quality, holder_swd, force_quality)
        results = (quality, licence, near_copy)
        gate_tags = _gate_tags(results, use, alias, force_quality)
        previous = holder.version if holder is not None else None
        for key, value in gate_tags.items():  # the run records every attempt, passed or not
            client.set_tag(run_id, key, value)
        if not all(result.ok for result in results):
            _record_refusal(client, model_name, run_id, registered_uri, alias, use, gate_tags)
            return Promotion(run_id, model_name, alias, use, results, None, previous)
        version = _register(client, model_name, run, registered_uri, gate_tags)
        client.set_registered_model_alias(model_name, alias, version)
    client.set_tag(run_id, tags.promotion(alias, use), f"version {version}")
    return Promotion(run_id, model_name, alias, use, results, version, previous)


@contextlib.contextmanager
def _alias_lock(model_name: str, alias: str):
    """An inter-process lock per tracking store, model and alias.

    MLflow has no compare-and-set for aliases, so promotions on this machine take a file lock;
    promotions from several machines against one server must be serialised by their caller
    (e.g. one CI job at a time).
    """
    key = f"{mlflow.get_tracking_uri()}|{model_name}|{alias}".encode()
    path = os.path.join(
        tempfile.gettempdir(), f"idphoto-promote-{hashlib.sha1(key).hexdigest()[:16]}.lock"
    )
    with fasteners.InterProcessLock(path):
        yield


def _record_refusal(
    client, model_name: str, run_id: str, registered_uri: str, alias: str, use: str, gate_tags
):
    client.set_tag(run_id, tags.promotion(alias, use), "refused")
    existing = _version_of_model(client, model_name, run_id, registered_uri)
    if existing is not None:  # a version registered earlier records this attempt too
        for key, value in gate_tags.items():
            client.set_model_version_tag(model_name, existing.version, key, value)


def _register(client, model_name: str, run, registered_uri: str, gate_tags) -> str:
    """Registers the run's generator (once per logged model) and tags the version; returns its
    number."""
    run_id = run.info.run_id
    version = _version_of_model(client, model_name, run_id, registered_uri)
    if version is None:
        version = mlflow.register_model(registered_uri, model_name, tags=_version_tags(run, run_id))
    for key, value in {**_version_tags(run, run_id), **gate_tags}.items():
        client.set_model_version_tag(model_name, version.version, key, value)
    return str(version.version)


def _check_model(model_uri: str) -> str:
    """Returns the URI to register: MLflow 3 keeps a run's logged model as `models:/m-...`."""
    try:
        info = mlflow.models.get_model_info(model_uri)
    except (MlflowException, OSError):
        raise UserError(f"{model_uri} holds no model; did the training run finish?") from None
    return info.model_uri if str(info.model_uri).startswith("models:/") else model_uri


def _alias_holder(client: MlflowClient, model_name: str, alias: str):
    try:
        return client.get_model_version_by_alias(model_name, alias)
    except MlflowException:  # no such registered model or alias yet
        return None


def _version_of_model(client: MlflowClient, model_name: str, run_id: str, registered_uri: str):
    """The version registered from this very model of the run, if any.

    A run extended after a promotion logs a new model; the version of the old one must not
    stand for it (nor take the new model's gate results).
    """
    try:
        versions = client.search_model_versions(f"name='{model_name}' and run_id='{run_id}'")
    except MlflowException:
        return None
    same = [v for v in versions if v.source == registered_uri]
    return min(same, key=lambda v: int(v.version)) if same else None


def _licence(logged: RunDataset, use: str, other, other_path: str | None) -> gates.GateResult:
    """The licence gate, judged with the policy the run's dataset was made with (and with
    `--policy`, when it names another one)."""
    if logged.policy is None:
        return gates.GateResult("licence", gates.FAILED, f"no proof: {logged.problem}")
    accepted = sum(row["decision"] == ACCEPTED for row in logged.rows)
    found = violations(logged.rows, logged.policy, use)
    if other is None or other.digest == logged.policy.digest:
        return gates.licence_gate(use, accepted, found)
    return gates.licence_gate_under_two_policies(
        use, accepted, found, violations(logged.rows, other, use), f"--policy {other_path}"
    )


def _near_copy(client, run, model_uri: str, cfg: PromoteConfig, alias: str, data_dir):
    data_dir = data_dir or run.data.tags.get(tags.DATA, "")
    expected = run.data.tags.get(tags.CONTENT_SHA256, "")
    try:
        dataset = ingested.open_ingested(data_dir)
    except UserError as err:
        return gates.GateResult("near_copy", gates.FAILED, f"training photos unavailable: {err}")
    found = dataset.content_digests()["all"]
    if expected and found != expected:
        return gates.GateResult(
            "near_copy",
            gates.FAILED,
            f"{data_dir} is not the run's training data (content {found[:12]}, "
            f"run trained on {expected[:12]}); pass --data",
        )
    near = cfg.near_copy
    # Safe mode refuses to deserialise code (Lambda layers, pickled functions) from a model.
    generator = mlflow.keras.load_model(model_uri, load_model_kwargs={"safe_mode": True})
    samples = _samples(generator, near.samples, near.seed)
    _, resolution, _, channels = generator.output_shape
    chunks, ids, kept = [], [], {}

    def stream(progress):
        for images, chunk_ids in ingested.photo_chunks(
            dataset, ingested.TRAIN_SPLIT, resolution, channels, near.chunk
        ):
            start = len(ids)
            ids.extend(chunk_ids)
            chunks.append((start, images))
            yield images
            progress.update(len(images))

    try:
        total = dataset.splits[ingested.TRAIN_SPLIT]
        with tqdm(total=total, desc="near-copy search", unit="photo", disable=None) as progress:
            matches = nearest_training_photos(samples, stream(progress), near.neighbours)
    except ValueError as err:
        return gates.GateResult("near_copy", gates.FAILED, str(err))
    result = gates.near_copy_gate(matches, near, ids)
    closest = sorted(matches, key=lambda m: m.ratio)[: near.pairs_to_log]
    wanted = {m.training for m in closest}
    for start, images in chunks:
        kept.update({i: images[i - start] for i in wanted if start <= i < start + len(images)})
    if closest:
        client.log_image(
            run.info.run_id,
            pairs_figure(samples, kept, closest, ids, near.max_ratio),
            artifact_file=f"promotion/{alias}-closest-pairs.png",
        )
    return result


def _samples(generator, count: int, seed: int, batch: int = 64) -> np.ndarray:
    latent_dim = generator.input_shape[-1]
    latents = np.random.default_rng(seed).standard_normal((count, latent_dim)).astype(np.float32)
    images = [np.asarray(generator(latents[i : i + batch])) for i in range(0, count, batch)]
    return (np.concatenate(images) + 1.0) / 2.0


def _gate_tags(results, use: str, alias: str, force_quality: str | None) -> dict[str, str]:
    found = {tags.gate(use, r.name): r.status for r in results} | {
        tags.gate(use, r.name) + ".figure": r.figure[:5000] for r in results
    }
    found[tags.gate(use, "checked_at")] = datetime.datetime.now(datetime.UTC).isoformat()
    found[tags.gate(use, "alias")] = alias
    if force_quality:
        found[tags.gate(use, "quality.forced_reason")] = force_quality[:5000]
    return found


def _version_tags(run, run_id: str) -> dict[str, str]:
    summary = {tags.LINEAGE_PREFIX + k: v for k, v in summary_from_tags(run.data.tags).items()}
    return {
        **summary,
        tags.LINEAGE_PARQUET: f"runs:/{run_id}/{tags.dataset_artifact(ingested.LINEAGE_FILE)}",
        tags.LINEAGE_ATTRIBUTION: (
            f"runs:/{run_id}/{tags.dataset_artifact(ingested.ATTRIBUTION_FILE)}"
        ),
        tags.DATA: run.data.tags.get(tags.DATA, ""),
        tags.RUN_NAME: run.info.run_name or "",
    }


def describe(promotion: Promotion) -> str:
    """The lines `idphoto promote` prints: each gate, then the verdict."""
    lines = [f"{r.name:<10} {r.status:<7} {r.figure}" for r in promotion.gates]
    if promotion.promoted:
        previous = promotion.previous_version
        before = f" (was version {previous})" if previous else ""
        lines.append(
            f"promoted: models:/{promotion.model_name}@{promotion.alias} -> version "
            f"{promotion.version}{before}, for {promotion.use} use"
        )
    else:
        failed = ", ".join(r.name for r in promotion.gates if not r.ok)
        kept = promotion.previous_version or "none"
        lines.append(
            f"refused ({failed}): alias {promotion.alias} unchanged (version {kept}); "
            f"gate results recorded on run {promotion.run_id}"
        )
    return "\n".join(lines)


__all__ = ["Promotion", "describe", "promote"]
