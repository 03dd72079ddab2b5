"""Names of the MLflow tags and artifacts idphoto writes on runs and model versions.

Every module that writes or reads one of them takes its name from here, so a search for a tag in
the UI and a search in the code find the same spelling.
"""

from __future__ import annotations

# On training runs: where the run came from.
CONFIG_FILE = "idphoto.config_file"
DATA = "idphoto.data"  # the dataset folder the run trained on
RUN_DIR = "idphoto.run_dir"
USE = "idphoto.use"
STRATEGY = "idphoto.strategy"
REPLICAS = "idphoto.replicas"
GATES_PASSED_AT = "idphoto.gates_passed_at"  # the step `train --stop-at-gates` stopped at

# The licence summary of the training data (`idphoto.tracking.lineage.summary_tags`).
LINEAGE_PREFIX = "idphoto.lineage."
CONTENT_SHA256 = LINEAGE_PREFIX + "content_sha256"  # marks a run as a training run
POLICY_SHA256 = LINEAGE_PREFIX + "policy_sha256"

# On model versions: links to the lineage artifacts of the run they came from.
LINEAGE_PARQUET = LINEAGE_PREFIX + "parquet"
LINEAGE_ATTRIBUTION = LINEAGE_PREFIX + "attribution"
RUN_NAME = "idphoto.run_name"

# Promotion records.
GATE_PREFIX = "idphoto.gate."
PROMOTION_PREFIX = "idphoto.promotion."

# Where a training run keeps its dataset's record files (`idphoto.data.dataset.RECORD_FILES`).
DATASET_ARTIFACTS = "dataset"


def gate(use: str, name: str) -> str:
    """The tag holding a gate's status (`passed`/`failed`) for a use."""
    return f"{GATE_PREFIX}{use}.{name}"


def promotion(alias: str, use: str) -> str:
    """The tag recording the last promotion attempt of a run for an alias and use."""
    return f"{PROMOTION_PREFIX}{alias}.{use}"


def dataset_artifact(name: str) -> str:
    """The artifact path of one of the dataset's record files on a training run."""
    return f"{DATASET_ARTIFACTS}/{name}"
