"""gunicorn, embedded: N sync worker processes, each loading the model once after the fork.

Sync workers, not threads: one request's model work holds the GIL, so parallelism comes from processes (see
shared/notes/dependencies.md: 2 sync workers gave 2.4x the throughput of a threaded server). The app is not
preloaded: each worker builds its own Decider and database engine after the fork, so no C-extension state,
durable_rules host thread or database connection is shared across processes.
"""

from __future__ import annotations

from typing import Any

from gunicorn import util
from gunicorn.app.base import BaseApplication
from gunicorn.workers.sync import SyncWorker

from complaint_triage.service.errors import error_body
from complaint_triage.service.settings import Settings


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's util.write_error, but the body is the API's error object instead of an HTML page."""
    body = error_body(status_int, mesg or reason)
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    util.write_nonblock(sock, head.encode("latin-1", "replace") + body)


class JsonErrorWorker(SyncWorker):
    """A sync worker whose own answers are JSON in the API's shape: a request gunicorn cannot parse (bad request
    line, oversized headers) and a request still running when the worker timeout kills the worker (503, where
    plain gunicorn closes the connection without a word)."""

    _client: Any = None

    def init_process(self) -> None:
        # Worker.handle_error writes through gunicorn.util.write_error: replace it in this worker process only.
        util.write_error = write_json_error
        super().init_process()

    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        self._client = client
        try:
            super().handle(listener, client, addr)
        finally:
            self._client = None

    def handle_abort(self, sig: int, frame: Any) -> None:
        # SIGABRT from the arbiter: this request outlived the timeout. Answer it before the worker exits.
        client, self._client = self._client, None
        if client is not None:
            try:
                write_json_error(client, 503, "Service Unavailable",
                                 "the request took longer than the worker timeout; retry with less work")
            except OSError:
                pass
        super().handle_abort(sig, frame)


class TriageServer(BaseApplication):
    def __init__(self, settings: Settings, options: dict[str, Any]):
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        assert self.cfg is not None
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> Any:
        # Runs in each worker after the fork (preload_app is off): one model and one engine per process.
        from complaint_triage.contract import Complaint
        from complaint_triage.service.api import create_app

        app = create_app(self.settings)
        # The first decision per language pays for lazy loads (jieba's dictionary, ~0.6 s): pay it before
        # the worker takes traffic, not on a customer's request.
        app.extensions["triage_decider"].decide_many([Complaint(text="快递丢了,客服不理人"),
                                                      Complaint(text="My parcel was lost")])
        return app


def run(settings: Settings, host: str = "127.0.0.1", port: int = 8000, workers: int = 2,
        timeout: int = 120) -> None:
    """Create the schema once in the master, so workers starting together do not race on CREATE TABLE."""
    from complaint_triage.service.store import Store

    store = Store(settings.database_url)
    store.create_schema()
    store.engine.dispose()
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "complaint_triage.service.server.JsonErrorWorker",
        "preload_app": False,
        # A full batch of long texts on a cold worker takes seconds; the default 30 s is too tight.
        "timeout": timeout,
        "graceful_timeout": 30,
        "accesslog": None,  # the app writes one structured JSON line per request instead
        "loglevel": settings.log_level.lower(),
        "limit_request_line": 8190,
        # gunicorn >= 25 opens a control socket at one fixed path per user; two servers on a host would clash.
        "control_socket_disable": True,
    }
    TriageServer(settings, options).run()
