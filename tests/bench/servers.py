"""What the benchmarks' server processes (gunicorn over the test database) have in common."""

from __future__ import annotations

import subprocess
from pathlib import Path


class ServerProcess:
    """A process started by a benchmark, logging to ``log_path``; subclasses start it."""

    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        """SIGTERM (gunicorn's graceful stop), SIGKILL after 30 s."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
