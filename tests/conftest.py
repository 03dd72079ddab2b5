"""Shared fixtures: the sample data ingested once per session, and a real MLflow server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest
from hypothesis import settings

# Property tests draw a fixed sequence of examples: the same run in CI as on a laptop.
settings.register_profile("idphoto", derandomize=True, database=None)
settings.load_profile("idphoto")

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# `make test` exports the user's tracking store (the Makefile's MLFLOW_TRACKING_URI); a test that
# forgets to choose its own must land in a throwaway store, never in the user's runs.
_THROWAWAY_TRACKING = f"sqlite:///{tempfile.mkdtemp(prefix='idphoto-tests-')}/mlflow.db"
os.environ["MLFLOW_TRACKING_URI"] = _THROWAWAY_TRACKING
# Generated photos are signed: tests sign with keys of their own, never with the user's.
_TEST_KEYS = os.path.join(tempfile.mkdtemp(prefix="idphoto-test-keys-"), "keys")
os.environ["IDPHOTO_KEYS"] = _TEST_KEYS


@pytest.fixture(scope="session", autouse=True)
def _signing_keys():
    """The test session's signing keys, in the folder `IDPHOTO_KEYS` names."""
    from idphoto.generation.signing_keys import init_keys

    return init_keys(_TEST_KEYS, "idphoto test signer")


# What MLflow writes in the working directory when a test forgets to choose where: the user's
# store and artifacts live there too (the Makefile's `mlflow.db` and `mlartifacts/`).
_REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TRACKING_LEFTOVERS = ("mlruns", "mlartifacts", "mlflow.db")


@pytest.fixture(autouse=True)
def _throwaway_tracking_store():
    """Every test starts on the throwaway store (`mlflow.set_tracking_uri(None)` deletes the
    environment variable, after which MLflow would write to ./mlruns), and fails if it left
    tracking files in the repository or the working directory, or changed the user's."""
    os.environ["MLFLOW_TRACKING_URI"] = _THROWAWAY_TRACKING
    watched = {os.path.join(folder, name) for folder in (_REPOSITORY, os.getcwd())
               for name in _TRACKING_LEFTOVERS}  # fmt: skip
    before = {path: _modified(path) for path in watched}
    yield
    changed = sorted(path for path in watched if _modified(path) != before[path])
    assert not changed, f"the test wrote tracking files outside its temp folders: {changed}"


def _modified(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return None


@pytest.fixture(scope="session")
def sample_manifest(tmp_path_factory):
    """One full cycle of the sample licence mix, the duplicates and the two real portraits."""
    from idphoto.sample_data.manifest import write_sample_dataset

    root = tmp_path_factory.mktemp("sample")
    return write_sample_dataset(str(root / "sample"), n=13, seed=0)


def _ingest(manifest: str, out: str, use: str) -> str:
    from pipelines import ingest

    ingest.run(
        ["--manifest", manifest, "--out", out, "--use", use,
         "--runner=DirectRunner", "--direct_running_mode=in_memory"]
    )  # fmt: skip
    return out


@pytest.fixture(scope="session")
def ingested_research(sample_manifest, tmp_path_factory):
    """The sample data ingested for research use (in-memory runner: quick to start)."""
    return _ingest(
        sample_manifest, str(tmp_path_factory.mktemp("ingested") / "research"), "research"
    )


@pytest.fixture(scope="session")
def ingested_commercial(sample_manifest, tmp_path_factory):
    """The sample data ingested for commercial use: no NC, ND, unknown or unconsented photo."""
    out = str(tmp_path_factory.mktemp("ingested") / "commercial")
    return _ingest(sample_manifest, out, "commercial")


def free_port() -> int:
    """Returns a TCP port on the loopback interface that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MlflowServer:
    """A real `mlflow server` process on a loopback port over a SQLite store and local
    artifacts in `root`; `stop()` and `start()` restart it on the same store and port."""

    def __init__(self, root, port: int):
        self.root = root
        self.port = port
        self.uri = f"http://127.0.0.1:{port}"
        self._process = None
        self._log = None

    def start(self) -> MlflowServer:
        self._log = open(self.root / "server.log", "a")  # noqa: SIM115 - kept for the lifetime
        self._process = subprocess.Popen(
            [
                sys.executable, "-m", "mlflow", "server",
                "--host", "127.0.0.1", "--port", str(self.port),
                "--backend-store-uri", f"sqlite:///{self.root}/mlflow.db",
                "--artifacts-destination", str(self.root / "artifacts"),
                "--workers", "1",
            ],
            stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                pass
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log = (self.root / "server.log").read_text()
                raise RuntimeError(f"mlflow server did not start: {log[-2000:]}")
            time.sleep(0.5)

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._log.close()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real `mlflow server` on a free loopback port, with SQLite and a local artifact store."""
    server = MlflowServer(tmp_path_factory.mktemp("mlflow"), free_port()).start()
    yield server.uri
    server.stop()


@pytest.fixture
def tracking(mlflow_server, monkeypatch):
    """Points MLflow (this process and its children) at the test server."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    mlflow.set_tracking_uri(mlflow_server)
    yield mlflow_server
    mlflow.set_tracking_uri(None)
