"""The bottom floor: what every app uses and that knows no app — the domain error, rate limits, the
client's address, username normalization. Nothing in ``core`` imports another app of the project."""
