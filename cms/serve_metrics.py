"""The metrics side of ``cms serve`` in the gunicorn master: the multiprocess directory the workers write their
values to (made before any worker starts, removed at exit) and the bookkeeping when a worker dies.

gunicorn calls :func:`on_starting`, :func:`child_exit` and :func:`on_exit` as server hooks (see
``cms.gunicorn_conf``). Nothing here imports prometheus_client at import time: it picks single- or
multi-process mode once, when it is first imported, and the workers must inherit the multiprocess choice, so
the environment variable has to be set before any import of it in the master.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_CREATED_ENV = "CMS_METRICS_DIR_CREATED"  # "1": the directory was made for this run and is removed at exit


def prepare_multiprocess_dir(environ=os.environ) -> str:
    """The directory workers write their values to, set in ``environ`` so that they inherit it:
    ``$PROMETHEUS_MULTIPROC_DIR`` when the operator set one (emptied of an earlier run's files), else a new
    temporary directory."""
    path = environ.get(MULTIPROC_ENV)
    if path:
        os.makedirs(path, exist_ok=True)
        _remove_value_files(path)
        environ.setdefault(_CREATED_ENV, "0")
        return path
    path = tempfile.mkdtemp(prefix="cms-metrics-")
    environ[MULTIPROC_ENV] = path
    environ[_CREATED_ENV] = "1"
    return path


def worker_exited(pid: int, environ=os.environ) -> None:
    """A worker is gone: its per-process gauges (database pool use) go with it; its counters and histograms
    stay in the totals, as Prometheus counters must."""
    path = environ.get(MULTIPROC_ENV)
    if not path:
        return
    from prometheus_client.multiprocess import mark_process_dead

    mark_process_dead(pid, path)


def remove_multiprocess_dir(environ=os.environ) -> None:
    """At server exit: remove the directory if it was made for this run, else empty it."""
    path = environ.get(MULTIPROC_ENV)
    if not path:
        return
    if environ.get(_CREATED_ENV) == "1":
        shutil.rmtree(path, ignore_errors=True)
    else:
        _remove_value_files(path)


def _remove_value_files(path: str) -> None:
    for stale in glob.glob(os.path.join(path, "*.db")):
        try:
            os.remove(stale)
        except OSError:
            pass


# ----- gunicorn server hooks (merge these into the one gunicorn configuration module of `cms serve`) -----


def on_starting(server) -> None:
    """gunicorn hook, in the master before the first worker: prepare the multiprocess directory."""
    path = prepare_multiprocess_dir()
    server.log.info("metrics of all workers are kept in %s", path)


def child_exit(server, worker) -> None:
    """gunicorn hook, in the master when a worker has exited (stopped, crashed or killed)."""
    worker_exited(worker.pid)


def on_exit(server) -> None:
    """gunicorn hook, in the master as it exits."""
    remove_multiprocess_dir()
