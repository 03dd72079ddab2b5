"""Commands that only read the tracking store never create one, and say which one they read."""

import pytest

from idphoto.cli import main


@pytest.mark.parametrize(
    "argv",
    [
        ["lineage", "trace", "--id", "synthetic-0001"],
        ["lineage", "show", "--run", "latest"],
        ["registry", "audit"],
    ],
)
def test_a_missing_sqlite_store_is_a_one_line_error_and_is_not_created(
    argv, tmp_path, monkeypatch, capsys
):
    store = tmp_path / "elsewhere" / "mlflow.db"
    store.parent.mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"no tracking store at {store}" in err[0]
    assert not store.exists() and not (tmp_path / "mlflow.db").exists()


def test_a_store_without_training_runs_is_named_in_the_error(tmp_path, monkeypatch, capsys):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    MlflowClient(uri).search_experiments()  # creates an empty store
    capsys.readouterr()  # MLflow's own lines about creating it
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    assert main(["lineage", "trace", "--id", "synthetic-0001"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"idphoto lineage: error: {uri} holds no idphoto training run; is "
                   "MLFLOW_TRACKING_URI the store your runs are in?"]  # fmt: skip
