"""Fault injection: kill -9 the ingest and the trainer at random points, rerun, and check that
nothing was lost, leaked or crashed.

`make reliability` runs the long loop and prints its figures; `tests/faults/test_faults.py`
runs one short round of it as part of `make test`.

    python -m tests.faults.fault_loop --seeds 3 --kills 4 --train-kills 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

import pyarrow.parquet as pq

from idphoto.licences import load_policy

# What a rerun must reproduce for every manifest row.
_COMPARED = ("id", "decision", "reason", "class", "sha256", "duplicate_of", "split")


@dataclasses.dataclass
class Tally:
    """The loop's figures; every one but `runs`, `faults` and `rows_checked` must end at 0."""

    runs: int = 0
    faults: int = 0
    rows_checked: int = 0
    rows_lost: int = 0
    licence_leaks: int = 0
    crashes: int = 0
    partial_outputs: int = 0
    duplicate_runs: int = 0
    lost_metric_steps: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)

    def failed(self) -> bool:
        """Whether any guarantee broke."""
        return any(
            (self.rows_lost, self.licence_leaks, self.crashes, self.partial_outputs,
             self.duplicate_runs, self.lost_metric_steps)
        )  # fmt: skip


def ingest_command(manifest: str, out: str, use: str) -> list[str]:
    return [sys.executable, "-m", "idphoto", "ingest", "--manifest", manifest, "--out", out,
            "--use", use, "--direct_num_workers=2"]  # fmt: skip


def _run(command: list[str], timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def _kill_after(command: list[str], seconds: float, env: dict | None = None) -> bool:
    """Kills `command`'s process group after `seconds` (see `kill_when`); returns whether it was
    still running then (a fault was injected)."""
    deadline = time.monotonic() + seconds
    return kill_when(command, lambda: time.monotonic() >= deadline, env, timeout=seconds + 60)


def kill_when(command: list[str], ready, env: dict | None = None, timeout: float = 600) -> bool:
    """Starts `command` in its own process group and kills the group with SIGKILL as soon as
    `ready()` is true (polled every 10 ms); returns whether it was killed there, False when the
    command ended first (by itself, or by a fail point: see `idphoto.publish`)."""
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env=env,
    )  # fmt: skip
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if ready():
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.01)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        raise TimeoutError(f"{command[:4]} neither reached its kill point nor ended")
    return False


def staging_folders(out: str) -> list[str]:
    """The staging folders (`<out>.partial-*`) beside `out`."""
    parent, name = os.path.split(os.path.abspath(out))
    if not os.path.isdir(parent):
        return []
    return [os.path.join(parent, n) for n in os.listdir(parent) if n.startswith(name + ".partial-")]


def shards_written(out: str) -> bool:
    """Whether any TFRecord shard exists in a staging folder: a final one, or a temporary one
    in Beam's `beam-temp-<prefix>.tfrecord-<uuid>/` folder."""
    return any(
        "tfrecord" in os.path.join(path, name)
        for folder in staging_folders(out)
        for path, _, names in os.walk(folder)
        for name in names
    )


def lineage_rows(out: str) -> dict[str, tuple]:
    """The compared fields of every lineage row, by id."""
    rows = pq.read_table(os.path.join(out, "lineage.parquet")).to_pylist()
    return {r["id"]: tuple(r[k] for k in _COMPARED) for r in rows}


def output_state(out: str, manifest_rows: int) -> str:
    """`absent`, `complete`, or `partial` (a folder that is neither: a broken guarantee)."""
    if not os.path.exists(out):
        return "absent"
    try:
        with open(os.path.join(out, "ingest_report.json"), encoding="utf-8") as handle:
            reported = json.load(handle)["rows_out"]
        complete = (
            os.path.exists(os.path.join(out, "dataset_info.json"))
            and len(lineage_rows(out)) == manifest_rows == reported
        )
    except (OSError, ValueError, KeyError):
        complete = False
    return "complete" if complete else "partial"


def _leaks(out: str, use: str) -> int:
    policy = load_policy()
    rows = pq.read_table(os.path.join(out, "lineage.parquet")).to_pylist()
    return sum(
        1
        for r in rows
        if r["decision"] == "accepted"
        and not policy.judge(r["licence"] or "", use, r["consent"]).allowed
    )


def ingest_round(
    manifest: str, workdir: str, reference: dict[str, tuple], use: str, kill_at: float, tally: Tally
) -> None:
    """Kills one ingest at `kill_at` seconds, checks the output, reruns and compares lineage."""
    out = os.path.join(workdir, f"out-{tally.faults}")
    tally.faults += _kill_after(ingest_command(manifest, out, use), kill_at)
    check_and_rerun(manifest, out, reference, use, f"at {kill_at:.1f}s", tally)


def check_and_rerun(
    manifest: str, out: str, reference: dict[str, tuple], use: str, when: str, tally: Tally
) -> str:
    """After a kill: checks that `out` is absent or complete, reruns the ingest and compares its
    lineage with `reference`; returns the state found after the kill."""
    state = output_state(out, len(reference))
    if state == "partial":
        tally.partial_outputs += 1
        tally.problems.append(f"ingest killed {when} left a partial {out}")
    command = ingest_command(manifest, out, use) + (["--overwrite"] if state == "complete" else [])
    done = _run(command)
    tally.runs += 1
    if done.returncode != 0:
        tally.crashes += 1
        tally.problems.append(f"rerun after a kill {when} failed: {done.stderr[-500:]}")
        return state
    rows = lineage_rows(out)
    tally.rows_checked += len(reference)
    lost = [i for i in reference if rows.get(i) != reference[i]]
    tally.rows_lost += len(lost) + len(set(rows) - set(reference))
    if lost:
        tally.problems.append(f"rerun after a kill {when} differs on {lost[:3]}")
    tally.licence_leaks += _leaks(out, use)
    return state


def train_round(data: str, workdir: str, kill_at: float, index: int, tally: Tally) -> None:
    """Kills a training run at `kill_at` seconds, reruns the same command, checks MLflow."""
    from mlflow.tracking import MlflowClient

    store = f"sqlite:///{workdir}/train-{index}.db"
    run_dir = os.path.join(workdir, f"run-{index}")
    command = [
        sys.executable, "-m", "idphoto", "train", "--data", data,
        "--config", "configs/train/seed_dcgan.yaml", "--out", run_dir, "--steps", "40",
        "--set", "data.batch_size_per_replica=4", "--set", "schedule.log_every=5",
        "--set", "schedule.checkpoint_every=5", "--set", "schedule.eval_every=1000",
        "--set", "schedule.sample_every=1000",
    ]  # fmt: skip
    env = {**os.environ, "MLFLOW_TRACKING_URI": store}
    tally.faults += _kill_after(command, kill_at, env)
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    tally.runs += 1
    if done.returncode != 0:
        tally.crashes += 1
        tally.problems.append(f"training rerun after a kill at {kill_at:.1f}s failed")
        return
    client = MlflowClient(store)
    runs = [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]
    if len(runs) != 1:
        tally.duplicate_runs += len(runs) - 1
        tally.problems.append(f"{len(runs)} MLflow runs after a kill at {kill_at:.1f}s")
    steps = {m.step for m in client.get_metric_history(runs[0].info.run_id, "d_loss")}
    missing = sorted(set(range(5, 41, 5)) - steps)
    tally.lost_metric_steps += len(missing)
    if missing:
        tally.problems.append(
            f"d_loss history lacks steps {missing} after a kill at {kill_at:.1f}s"
        )


def run_loop(seeds: int, kills: int, train_kills: int, n: int, workdir: str) -> Tally:
    """The whole loop: ingest kills for each seed, then training kills."""
    from idphoto.sample_data.manifest import write_sample_dataset

    tally = Tally()
    use = "research"
    manifest = write_sample_dataset(os.path.join(workdir, "sample"), n=n, seed=0)
    started = time.monotonic()
    reference_out = os.path.join(workdir, "reference")
    done = _run(ingest_command(manifest, reference_out, use))
    if done.returncode != 0:
        raise RuntimeError(f"the uninterrupted ingest failed: {done.stderr[-1000:]}")
    duration = time.monotonic() - started
    reference = lineage_rows(reference_out)
    tally.licence_leaks += _leaks(reference_out, use)
    for seed in range(seeds):
        rng = random.Random(seed)
        for _ in range(kills):
            ingest_round(manifest, workdir, reference, use, rng.uniform(0.5, duration), tally)
    rng = random.Random(1000)
    for index in range(train_kills):
        train_round(reference_out, workdir, rng.uniform(15.0, 40.0), index, tally)
    return tally


def main(argv: list[str] | None = None) -> int:
    """Runs the loop and prints its figures; exit code 1 when a guarantee broke."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--kills", type=int, default=4, help="ingest kill points per seed")
    parser.add_argument("--train-kills", type=int, default=2)
    parser.add_argument("--n", type=int, default=20, help="synthetic portraits in the manifest")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="idphoto-faults-") as workdir:
        tally = run_loop(args.seeds, args.kills, args.train_kills, args.n, workdir)
    for problem in tally.problems:
        print(f"problem: {problem}")
    figures = dataclasses.asdict(tally)
    figures.pop("problems")
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key.replace('_', ' '):<{width}}  {value}")
    return 1 if tally.failed() else 0


if __name__ == "__main__":
    sys.exit(main())
