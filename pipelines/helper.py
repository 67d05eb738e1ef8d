"""A second Python process for a step's pure-Python work, so that a run uses both cores.

Two steps of `vigie run` spend most of their time in Python, one item at a time, items
independent of each other: the linkage's matching keys (`pipelines/link/records.py`) and the
walk of each household's timeline (`pipelines/walk.py`). Each sends part of its items to a
helper, `python -m pipelines.helper`, works out the rest meanwhile, then takes the helper's
answer. A helper does one job: it is started when the step starts (it imports while DuckDB
works), is sent a module-level function and its arguments (pickled through its standard
input), answers (pickled, on a channel of its own) and stops.

Not `multiprocessing`: its children import the caller's main script again (a script without
a main guard would run twice), and forking a process that runs DuckDB's threads is unsafe.
No helper in a daemon process (a Dask worker of the national flow: it already has its core,
and may not start children through multiprocessing) nor on a one-core machine; the step then
does all its work itself. If a helper fails, the step does its part too.
"""
from __future__ import annotations

import importlib
import multiprocessing
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class Helper:
    """A started helper process. `send(fn, *args)` once, then `result()`."""

    def __init__(self, preload: tuple[str, ...] = ()):
        root = str(Path(__file__).resolve().parent.parent)  # this same code, wherever it is imported from
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        self.process = subprocess.Popen([sys.executable, "-m", "pipelines.helper", *preload], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=env)
        self.answered = False  # (tests: the helper did its part)
        self._waiting = False  # a job sent, its answer not read

    def send(self, fn: Callable, *args) -> None:
        """Send the job (a module-level function, by name, and its arguments); it starts at once."""
        self._waiting = True
        try:
            pickle.dump((fn, args), self.process.stdin, protocol=5)
            self.process.stdin.close()
        except BrokenPipeError:  # it stopped: result() says so
            pass

    def result(self) -> Any | None:
        """The job's answer; None if the helper failed (its error is on stderr)."""
        try:
            out = pickle.load(self.process.stdout)
        except (EOFError, OSError, ValueError, pickle.UnpicklingError):
            return None
        finally:
            self._waiting = False
        self.answered = True
        return out

    def close(self) -> None:
        """Stop it: at once if its answer is no longer wanted (the step failed), else once it
        has seen that no job comes."""
        if self._waiting:
            self.process.kill()
        elif not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


@contextmanager
def helper_process(*preload: str):
    """A helper started now, importing the modules named (those of the job it will be sent:
    while the caller's DuckDB works), or None where there is no second core for it."""
    if multiprocessing.current_process().daemon or (os.cpu_count() or 1) < 2:
        yield None
        return
    helper = Helper(preload)
    try:
        yield helper
    finally:
        helper.close()


def shared(helper: Helper, fn: Callable, mine: tuple, theirs: tuple):
    """fn(*mine) here and fn(*theirs) in the helper at the same time (here too if the helper
    fails): both answers."""
    helper.send(fn, *theirs)
    here = fn(*mine)
    there = helper.result()
    return here, (fn(*theirs) if there is None else there)


def _serve(preload: list[str]) -> None:
    """The helper: import the modules named, read (fn, args), write back fn(*args)."""
    out = os.fdopen(os.dup(1), "wb")  # the answer's own channel; a stray print goes to stderr
    os.dup2(2, 1)
    for module in preload:
        importlib.import_module(module)
    try:
        fn, args = pickle.load(sys.stdin.buffer)
    except EOFError:  # no job (the step found too little work to share)
        return
    pickle.dump(fn(*args), out, protocol=5)
    out.close()


if __name__ == "__main__":
    _serve(sys.argv[1:])
