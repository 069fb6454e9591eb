"""Services enqueue tasks by name: the name must resolve in a process that never imported a tasks module."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from celery.exceptions import NotRegistered

from core.tasks import registered_task

ROOT = Path(__file__).resolve().parents[2]

# A fresh interpreter, like a gunicorn worker: Django set up, no tasks module imported by anyone.
FRESH_PROCESS = """
import sys, django
django.setup()
apps = ("accounts", "certificates", "notifications", "portal", "renewal", "signing")
assert not [name for name in sys.modules if name in {f"{app}.tasks" for app in apps}], "a tasks module is loaded"
from core.tasks import registered_task
for name in sys.argv[1:]:
    print(registered_task(name).name)
"""


def test_a_web_process_finds_every_task_the_services_name_without_importing_tasks_modules(tmp_path):
    names = ["notifications.tasks.message_deliver", "accounts.tasks.recovery_process", "signing.tasks.signing_job_run"]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_DEBUG": "true", "VAR_DIR": str(tmp_path)}

    run = subprocess.run([sys.executable, "-c", FRESH_PROCESS, *names], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)

    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == names


def test_an_unknown_task_name_is_refused():
    with pytest.raises(NotRegistered):
        registered_task("notifications.tasks.no_such_task")
