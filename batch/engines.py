"""Where chunks are decided: in this process, in a pool of local processes, or on a Dask cluster.

All three look like a ``concurrent.futures.Executor`` to the runner, so ordering, checkpoints and error
handling are written once. Each loads the model and the policy once per worker before the first chunk.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading
import time
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


_PR_SET_PDEATHSIG = 1
WATCHDOG_EVERY_S = 0.5


def _die_with_parent(parent_pid: int) -> None:
    """A worker must not outlive the batch process that feeds it (after a ``kill -9`` of the parent it would
    sit on its copy of the model forever, owned by PID 1).

    On Linux the kernel sends the worker SIGKILL when its parent exits (``prctl(PR_SET_PDEATHSIG)``); the pool's
    processes are started by the parent's main thread, whose end is the process's end. Everywhere, a daemon
    thread checks every half second whether the parent is still the one that started the worker, which
    also covers a parent that died before the ``prctl`` call."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog below still applies

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(WATCHDOG_EVERY_S)
        os._exit(1)

    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _init_worker(spec: WorkerSpec, parent_pid: int) -> None:
    _die_with_parent(parent_pid)
    warm_up(spec)


@contextmanager
def local_processes(spec: WorkerSpec, workers: int) -> Iterator[Executor]:
    if workers <= 1:
        warm_up(spec)
        yield InlineExecutor()
        return
    # fork: workers start in milliseconds and share the parent's imported libraries; the parent has not
    # loaded the model, so each worker loads its own copy once in the initializer.
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(spec, os.getpid())) as ex:
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
