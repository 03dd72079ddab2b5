"""Which generator a photo came from (`ModelRef`), apart from MLflow: worker processes that
label photos unpickle it without importing MLflow."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class ModelRef:
    """A generator in MLflow: the URI asked for and what it resolved to.

    Attributes:
        uri: the URI as given (`models:/idphoto-generator@champion`).
        load_uri: the URI to load, pinned to the resolved version so a moving alias cannot
            swap the model between resolving and loading.
        name, version: the registered model; empty for a `runs:/` URI.
        run_id: the run that logged the model ('' when the registry does not know it).
    """

    uri: str
    load_uri: str
    name: str
    version: str
    run_id: str
