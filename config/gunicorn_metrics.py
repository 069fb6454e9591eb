"""gunicorn settings for /metrics in prometheus-client's multiprocess mode (docs/metrics.md).

``gunicorn -c config/gunicorn_metrics.py config.wsgi:application`` with ``PROMETHEUS_MULTIPROC_DIR``
set to an empty directory of this host: each worker writes its counters there, and a scrape of any
worker adds up every worker's files. Without the variable this file changes nothing.
"""

from __future__ import annotations

import os
from typing import Any


def child_exit(server: Any, worker: Any) -> None:
    """A worker that exits (restart, max-requests, crash) leaves its files for the totals; only its
    live gauges are dropped, which is what ``mark_process_dead`` is for."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
