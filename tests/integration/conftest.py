"""Real Celery worker processes for the integration tests, on the configured broker.

The broker is kombu's filesystem transport by default and Redis in CI. Each test gets queues of its
own — a queue prefix (``CELERY_QUEUE_PREFIX``) for the test's duration, in the test process and the
worker alike — so tasks dispatched by the code under test (``transaction.on_commit``) reach this
test's worker and nobody else's. The worker serves every lane unless told which.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    """The URL of the *test* database, so that the worker sees what the test committed."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    """One ``celery worker`` process that can be started, killed with SIGKILL and started again."""

    def __init__(self, queue: str, log_path: Path, env: dict[str, str], lanes: tuple[str, ...] | None = None,
                 pool: str = "solo", loglevel: str = "INFO") -> None:
        self.queue = queue  # the queue prefix of the test
        self.lanes = lanes or tuple(settings.CELERY_QUEUES_BY_URGENCY)
        self.pool = pool
        self.loglevel = loglevel
        # The same node name each start: a restarted worker is the same node, as under a supervisor.
        self.node = f"{queue}{'-'.join(self.lanes)}-{uuid.uuid4().hex[:4]}@localhost"
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *extra_env: tuple[str, str]) -> None:
        env = {**self.env, **dict(extra_env)}
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", self.pool, "--concurrency", "1",
             "--loglevel", self.loglevel, "-Q", ",".join(f"{self.queue}{lane}" for lane in self.lanes),
             "--without-mingle", "--without-gossip", "--without-heartbeat", "-n", self.node],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()

    def pool_processes(self) -> list[int]:
        """The pids of the pool's child processes (prefork pool)."""
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def kill(self) -> None:
        """SIGKILL: no warm shutdown, no chance to finish or acknowledge the task in hand."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)  # the pool's processes with it, as a machine crash
            self.process.wait(timeout=20)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def worker_env(transactional_db: None, settings: Any) -> Iterator[dict[str, str]]:
    """The environment of this test's workers: its database, and a queue prefix of its own that the
    test process routes to as well (tasks the worker queues itself, retries, come back to it)."""
    prefix = f"test-{uuid.uuid4().hex[:12]}-"
    settings.CELERY_QUEUE_PREFIX = prefix
    yield {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "CELERY_QUEUE_PREFIX": prefix,
    }


@pytest.fixture
def worker_process(tmp_path: Path, worker_env: dict[str, str]) -> Iterator[Worker]:
    """A worker (not yet started) on the test's queues, every lane."""
    handle = Worker(worker_env["CELERY_QUEUE_PREFIX"], tmp_path / "worker.log", worker_env)
    try:
        yield handle
    finally:
        handle.stop()
        print(handle.log()[-4000:])  # shown by pytest when the test fails


@pytest.fixture
def worker(worker_process: Worker) -> str:
    """A running worker; yields the queue prefix of the test (tasks are routed there by name)."""
    worker_process.start()
    return worker_process.queue


def eventually(check: Callable[[], bool], timeout: float = 60.0, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return False
