"""Outbox, e-mail and SMS delivery, reminders, security notices (SPEC §9). Arrives with the Notifications issue."""
