"""`idphoto promote` with a rendezvous inside its read-compare-move of the alias.

The racing-promotions test starts two of these, one for the better run and one for the worse.
Each reads the alias holder, then waits (up to `WAIT` seconds) for the other to have read it
too; the worse one, when they meet, also waits until the better one has moved the alias. Under
the promotion lock they never meet: the first waits in vain and finishes, the second reads the
alias the first left. Without the lock they always meet, both read "no holder", and the worse
model overwrites the better one's alias: the test fails every time, not by chance.

Usage: python race_hook.py FOLDER better|worse PROMOTE-ARGS...
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

from idphoto.cli import main
from idphoto.registry import promote

WAIT = 8.0


def _wait_for(path: Path) -> bool:
    deadline = time.monotonic() + WAIT
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return path.exists()


def run(folder: Path, role: str, argv: list[str]) -> int:
    other = "worse" if role == "better" else "better"
    read_holder = promote._alias_holder
    move_alias = MlflowClient.set_registered_model_alias

    def holder_then_rendezvous(client, model_name, alias):
        holder = read_holder(client, model_name, alias)
        (folder / f"read-{role}").touch()
        if _wait_for(folder / f"read-{other}") and role == "worse":
            _wait_for(folder / "moved-better")
        return holder

    def move_then_report(self, *args, **kwargs):
        move_alias(self, *args, **kwargs)
        (folder / f"moved-{role}").touch()

    promote._alias_holder = holder_then_rendezvous
    MlflowClient.set_registered_model_alias = move_then_report
    return main(argv)


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1]), sys.argv[2], sys.argv[3:]))
