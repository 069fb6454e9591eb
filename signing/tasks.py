"""Periodic jobs of the signing app (schedule in ``config/celery.py``). Thin: each calls one service."""

from __future__ import annotations

from celery import shared_task

from signing.services import signature_activations_purge


@shared_task(name="signing.tasks.signature_activations_purge")
def signature_activations_purge_task() -> int:
    return signature_activations_purge()
