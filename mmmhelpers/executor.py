"""Independent fits (replicates, SBC draws, cases of a batch) in sequence, or on a Dask cluster.

``executor_for(workers, scheduler)`` picks one: no workers and no scheduler runs the tasks one after another in
this process (best on a small machine: each fit already uses every core); ``workers=N`` starts a Dask
``LocalCluster`` of N single-threaded worker processes; ``scheduler="tcp://host:8786"`` uses an existing
cluster. Dask and distributed are an optional extra (``pip install .[distributed]``).

Every task is a picklable function and its keyword arguments; it returns only the summaries it needs (never
whole traces). Seeds come from ``task_seeds(seed, n)`` (one ``SeedSequence.spawn``), so results do not depend on
the worker count or the order tasks finish in. A failed task is retried once, then reported by name with its
error; the others' results are kept.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Task", "Outcome", "task_seeds", "Executor", "SequentialExecutor", "DaskExecutor", "executor_for",
           "failures"]

EXTRA = "pip install 'mmmhelpers[distributed]'  (dask and distributed)"


@dataclass(frozen=True)
class Task:
    """One independent unit of work: ``fn(**kwargs)``, named for progress and error reports."""

    name: str
    fn: Callable[..., Any]
    kwargs: dict[str, Any]


@dataclass
class Outcome:
    """A task's result, or its error after the retry (``value`` None)."""

    name: str
    value: Any = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def task_seeds(seed: int, n: int) -> list[int]:
    """``n`` independent seeds from one ``SeedSequence(seed).spawn(n)``: task k's seed is the same on any
    executor and any worker count (callers pass a purpose's seed, e.g. ``seed_for(params.seed, "sbc")``)."""
    return [int(child.generate_state(1)[0]) for child in np.random.SeedSequence(seed).spawn(n)]


def _timed(fn: Callable, kwargs: dict) -> tuple[Any, float]:
    t0 = time.perf_counter()
    value = fn(**kwargs)
    return value, time.perf_counter() - t0


def _error(err: BaseException) -> str:
    last = traceback.extract_tb(err.__traceback__)[-1:] if err.__traceback__ else []
    where = f" (at {last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno})" if last else ""
    return f"{type(err).__name__}: {err}{where}"


class Executor:
    """Runs tasks; ``map`` returns one Outcome per task, in the tasks' order."""

    description = "in sequence, in this process"

    def map(self, tasks: list[Task], desc: str = "tasks", progress: bool = True) -> list[Outcome]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the cluster (nothing for the sequential executor)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SequentialExecutor(Executor):
    """One task after another in this process; a failed task is retried once."""

    def map(self, tasks: list[Task], desc: str = "tasks", progress: bool = True) -> list[Outcome]:
        from tqdm import tqdm

        out = []
        for task in tqdm(tasks, desc=desc, disable=not progress):
            for attempt in range(2):
                try:
                    value, seconds = _timed(task.fn, task.kwargs)
                    out.append(Outcome(task.name, value, None, seconds))
                    break
                except Exception as err:  # noqa: BLE001 - reported by name, the others go on
                    if attempt == 1:
                        out.append(Outcome(task.name, None, _error(err)))
        return out


class DaskExecutor(Executor):
    """Tasks on a Dask cluster: a ``LocalCluster`` of ``workers`` single-threaded processes, or the cluster at
    ``scheduler``. Dask retries a failed task once; progress counts finished tasks."""

    def __init__(self, workers: int | None = None, scheduler: str | None = None):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as err:
            raise RuntimeError(f"running fits on Dask workers needs the optional extra: {EXTRA}") from err
        if scheduler:
            self.cluster, self.client = None, Client(scheduler)
            self.description = f"on the Dask cluster at {scheduler}"
        else:
            self.cluster = LocalCluster(n_workers=int(workers or 2), threads_per_worker=1, processes=True,
                                        dashboard_address=":0")
            self.client = Client(self.cluster)
            self.description = f"on a local Dask cluster of {int(workers or 2)} workers"
        link = getattr(self.client, "dashboard_link", None)
        if link:
            self.description += f" (dashboard: {link})"

    def map(self, tasks: list[Task], desc: str = "tasks", progress: bool = True) -> list[Outcome]:
        from dask.distributed import as_completed
        from tqdm import tqdm

        futures = {self.client.submit(_timed, t.fn, t.kwargs, key=f"{t.name}-{id(t)}", pure=False, retries=1): t.name
                   for t in tasks}
        done: dict[str, Outcome] = {}
        for fut in tqdm(as_completed(futures), total=len(futures), desc=desc, disable=not progress):
            name = futures[fut]
            if fut.status == "error":
                done[name] = Outcome(name, None, _error(fut.exception()))
            else:
                value, seconds = fut.result()
                done[name] = Outcome(name, value, None, seconds)
        return [done[t.name] for t in tasks]

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def executor_for(workers: int | None = None, scheduler: str | None = None) -> Executor:
    """Sequential without workers or scheduler, else Dask (a clear error naming the extra when it is missing)."""
    if not scheduler and not workers:
        return SequentialExecutor()
    return DaskExecutor(workers, scheduler)


def failures(outcomes: list[Outcome]) -> list[str]:
    """One line per failed task: its name and error."""
    return [f"{o.name}: {o.error}" for o in outcomes if not o.ok]
