"""The wheel installs and runs as workers and training machines install it: from any folder,
with the project's configs shipped inside the package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
# What a wheel is built from: the sources, not the clone's data, runs or environments.
_NOT_SOURCES = {".git", ".venv", "build", "dist", "data", "runs", "generated", "docs", "mlruns",
                "mlartifacts", "mlflow.db", ".hypothesis", "bench"}  # fmt: skip


def _not_sources(folder: str, names: list[str]) -> set[str]:
    caches = {n for n in names if n == "__pycache__" or n.endswith(".egg-info")}
    return caches | (_NOT_SOURCES & set(names) if Path(folder) == REPOSITORY else set())


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv holding only the built wheel; its dependencies are the pinned set already
    installed for the tests (a `.pth` line to that site-packages, whose own `.pth` files, the
    editable install among them, are not read), so nothing is downloaded."""
    root = tmp_path_factory.mktemp("wheel")
    sources = root / "sources"
    shutil.copytree(REPOSITORY, sources, ignore=_not_sources)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(root / "dist"), str(sources)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = (root / "dist").glob("idphoto-*.whl")
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-deps", "--no-index", "--force-reinstall", str(wheel)],
        check=True, capture_output=True, env=_clean_env(),
    )  # fmt: skip
    # After the install: pip would otherwise see the editable idphoto there and skip the wheel.
    Path(purelib, "pinned-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    workdir = root / "elsewhere"  # no configs/ and no sources here
    workdir.mkdir()
    return env_dir, workdir, Path(purelib)


def _clean_env() -> dict[str, str]:
    """The environment without what would point Python or idphoto at the clone."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "IDPHOTO_CONFIG_DIR")}


def _in_venv(installed, program, *args):
    """Runs the venv's `program` from a folder without sources, as a user of the wheel would."""
    env_dir, workdir, _ = installed
    env = _clean_env()
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir}/mlflow.db"
    return subprocess.run(
        [env_dir / "bin" / program, *args], cwd=workdir, env=env, capture_output=True,
        text=True, timeout=600,
    )  # fmt: skip


def _idphoto(installed, *args):
    return _in_venv(installed, "idphoto", *args)


def test_the_wheel_ships_the_package_and_its_configs(installed):
    _, _, purelib = installed
    shipped = {p.relative_to(purelib / "idphoto" / "configs").as_posix()
               for p in (purelib / "idphoto" / "configs").rglob("*.yaml")}  # fmt: skip
    in_clone = {p.relative_to(REPOSITORY / "configs").as_posix()
                for p in (REPOSITORY / "configs").rglob("*.yaml")}  # fmt: skip
    assert shipped == in_clone
    assert (purelib / "pipelines" / "ingest.py").is_file()
    assert (purelib / "idphoto" / "training" / "session.py").is_file()


def test_the_installed_command_ingests_and_plans_training_from_another_folder(installed):
    env_dir, workdir, purelib = installed
    where = _in_venv(installed, "python", "-c", "import idphoto; print(idphoto.__file__)")
    assert where.stdout.strip() == str(purelib / "idphoto" / "__init__.py")  # not the clone
    made = _idphoto(installed, "sample-data", "--out", "sample", "--n", "13")
    assert made.returncode == 0, made.stderr
    ingested = _idphoto(installed, "ingest", "--manifest", "sample/manifest.csv",
                        "--out", "ingested", "--use", "research")  # fmt: skip
    assert ingested.returncode == 0, ingested.stderr
    assert "accepted" in ingested.stdout
    # The dataset records the policy it was judged with: the one shipped in the package.
    policy = (purelib / "idphoto" / "configs" / "licence_policy.yaml").read_text()
    assert (workdir / "ingested" / "licence_policy.yaml").read_text() == policy
    planned = _idphoto(
        installed,
        "train",
        "--data",
        "ingested",
        "--dry-run",
        "--set",
        "data.batch_size_per_replica=4",
    )  # 9 training photos
    assert planned.returncode == 0, planned.stderr
    assert "fastgan" in planned.stdout  # the default config, found in the package
    assert not (workdir / "runs").exists()  # a dry run trains nothing


def test_a_config_named_but_not_shipped_is_a_one_line_error(installed):
    planned = _idphoto(installed, "train", "--data", "ingested", "--config", "nosuch", "--dry-run")
    assert planned.returncode != 0
    (line,) = [line for line in planned.stderr.splitlines() if line.strip()]
    assert "training config nosuch is neither a file nor a shipped config (" in line
    assert "fastgan64" in line
