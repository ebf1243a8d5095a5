"""Where chunks are decided: in this process, in a pool of local processes, or on a Dask cluster.

All three look like a ``concurrent.futures.Executor`` to the runner, so ordering, checkpoints and error
handling are written once. Each loads the model and the policy once per worker before the first chunk.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any, Literal

from complaint_triage.batch.work import WorkerSpec, warm_up

EngineName = Literal["processes", "dask"]


class EngineError(RuntimeError):
    pass


class InlineExecutor(Executor):
    """One worker: no pickling and no second copy of the model; the parent does the work itself."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        f: Future = Future()
        try:
            f.set_result(fn(*args, **kwargs))
        except BaseException as e:  # noqa: BLE001 - handed to the caller through the future
            f.set_exception(e)
        return f


@contextmanager
def local_processes(spec: WorkerSpec, workers: int) -> Iterator[Executor]:
    if workers <= 1:
        warm_up(spec)
        yield InlineExecutor()
        return
    # fork: workers start in milliseconds and share the parent's imported libraries; the parent has not
    # loaded the model, so each worker loads its own copy once in the initializer.
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=warm_up, initargs=(spec,)) as ex:
        yield ex


@contextmanager
def dask_cluster(spec: WorkerSpec, workers: int, scheduler: str | None) -> Iterator[Executor]:
    """With no scheduler address, a local cluster of ``workers`` single-threaded processes is started (and
    stopped at the end); with one, the job runs on that cluster, whose workers must have this package
    installed and, for a custom --model-dir/--policy, those paths readable."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as e:  # pragma: no cover - dask is a declared dependency
        raise EngineError("the dask engine needs the 'distributed' package") from e
    cluster = None
    try:
        if scheduler:
            client = Client(scheduler, timeout=os.environ.get("TRIAGE_DASK_CONNECT_TIMEOUT", "30s"))
        else:
            cluster = LocalCluster(n_workers=max(workers, 1), threads_per_worker=1, processes=True,
                                   dashboard_address=":0")
            client = Client(cluster)
    except (OSError, TimeoutError) as e:
        if cluster is not None:
            cluster.close()
        raise EngineError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from e
    try:
        client.run(warm_up, spec)
        yield client.get_executor(pure=False)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def engine(name: EngineName, spec: WorkerSpec, workers: int, scheduler: str | None = None):
    if name == "dask":
        return dask_cluster(spec, workers, scheduler)
    if scheduler:
        raise EngineError("--scheduler needs --engine dask")
    return local_processes(spec, workers)
