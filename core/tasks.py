"""Enqueueing background work by the task's registered name.

One direction for Celery imports: a ``tasks`` module imports the services it runs, never the
reverse. A service that needs work done later names the task (``"<app>.tasks.<name>"``, the same
string the beat schedule uses) and this looks it up in the Celery app's registry.

Enqueueing after the surrounding transaction commits is the rule for anything that reads rows the
transaction writes: a worker must never see a row that is then rolled back, nor miss one that is
not committed yet.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import current_app
from django.db import transaction

logger = logging.getLogger(__name__)


def registered_task(name: str) -> Any:
    """The task registered as ``name``.

    A web process never imports the tasks modules (services name tasks, they do not import them),
    so the first lookup loads them the way a worker does at start: Celery's autodiscovery over the
    installed apps. An unknown name still raises ``celery.exceptions.NotRegistered``.
    """
    if name not in current_app.tasks:
        current_app.loader.import_default_modules()
    return current_app.tasks[name]


def task_enqueue(
    name: str, *args: Any, countdown: float | None = None, kwargsrepr: str | None = None, **kwargs: Any
) -> None:
    """Send one run of the task registered as ``name`` to the broker now."""
    options: dict[str, Any] = {}
    if countdown is not None:
        options["countdown"] = countdown
    if kwargsrepr is not None:
        options["kwargsrepr"] = kwargsrepr  # what the logs show instead of secrets in the kwargs
    registered_task(name).apply_async(args=list(args), kwargs=kwargs or None, **options)


def task_enqueue_on_commit(name: str, *args: Any, **kwargs: Any) -> None:
    """Send the task once (and only if) the surrounding transaction commits.

    A broker that is down does not undo the committed work: the failure is logged, and every caller
    has a way to catch up (the outbox sweeper, the visitor asking again).
    """

    def dispatch() -> None:
        try:
            task_enqueue(name, *args, **kwargs)
        except Exception:
            logger.exception("could not enqueue %s%r; it will be picked up again later", name, args)

    transaction.on_commit(dispatch)
