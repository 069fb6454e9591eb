"""Real Celery worker processes for the integration tests, on the configured broker.

The broker is kombu's filesystem transport by default and Redis in CI. Each test gets a queue of
its own, made the default queue of the app for the test's duration, so tasks dispatched by the
code under test (``transaction.on_commit``) reach this test's worker and nobody else's.
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
from urllib.parse import quote

import pytest
from django.db import connection

from config.celery import app

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

    def __init__(self, queue: str, log_path: Path, env: dict[str, str]) -> None:
        self.queue = queue
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *extra_env: tuple[str, str]) -> None:
        env = {**self.env, **dict(extra_env)}
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--loglevel", "INFO",
             "-Q", self.queue, "--without-mingle", "--without-gossip", "--without-heartbeat",
             "-n", f"{self.queue}-{uuid.uuid4().hex[:4]}@%h"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()

    def kill(self) -> None:
        """SIGKILL: no warm shutdown, no chance to finish or acknowledge the task in hand."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
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
def worker_process(tmp_path: Path, transactional_db: None) -> Iterator[Worker]:
    """A worker (not yet started) on a fresh queue that is also the app's default queue."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "CELERY_TASK_DEFAULT_QUEUE": queue,  # tasks the worker queues itself (retries) come back to it
    }
    previous_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    handle = Worker(queue, tmp_path / "worker.log", env)
    try:
        yield handle
    finally:
        handle.stop()
        app.conf.task_default_queue = previous_queue
        print(handle.log()[-4000:])  # shown by pytest when the test fails


@pytest.fixture
def worker(worker_process: Worker) -> str:
    """A running worker; yields its queue name."""
    worker_process.start()
    return worker_process.queue


def eventually(check: Callable[[], bool], timeout: float = 60.0, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return False
