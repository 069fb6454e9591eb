"""Outbox, e-mail and SMS delivery by Celery workers, retries, delivery status, security notices."""
