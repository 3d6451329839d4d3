"""The settings module: production checks and the embedded database's pragmas."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": "x" * 20 + "-production-secret-for-the-deploy-check-0123456789",
    "DJANGO_ALLOWED_HOSTS": "cc.example.com",
    "DJANGO_HTTPS": "true",
    "DJANGO_DEBUG": "false",
}


def _check_deploy(env_overrides, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({"CC_VAR_DIR": str(tmp_path), **env_overrides})
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_environment(tmp_path):
    result = _check_deploy(PRODUCTION_ENV, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_complains_without_https(tmp_path):
    result = _check_deploy({**PRODUCTION_ENV, "DJANGO_HTTPS": "false"}, tmp_path)
    assert result.returncode != 0
    assert "SECURE_SSL_REDIRECT" in result.stdout + result.stderr


def test_secret_key_can_come_from_a_file(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(PRODUCTION_ENV["DJANGO_SECRET_KEY"] + "\n")
    env = {**PRODUCTION_ENV, "DJANGO_SECRET_KEY": "", "DJANGO_SECRET_KEY_FILE": str(key_file)}
    assert _check_deploy(env, tmp_path).returncode == 0


def test_embedded_database_file_runs_in_wal_with_immediate_transactions(tmp_path):
    """On the real embedded file (the test database is in memory, where WAL cannot apply)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["CC_VAR_DIR"] = str(tmp_path)
    probe = (
        "from django.db import connection as c; cur = c.cursor();"
        "cur.execute('PRAGMA journal_mode'); print(cur.fetchone()[0]);"
        "cur.execute('PRAGMA synchronous'); print(cur.fetchone()[0]);"
        "o = c.settings_dict['OPTIONS']; print(o['transaction_mode'], o['timeout'])"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", probe],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.split() == ["wal", "1", "IMMEDIATE", "20"], result.stderr


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = {**PRODUCTION_ENV, "DJANGO_SECRET_KEY": ""}
    result = _check_deploy(env, tmp_path)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_openapi_schema_is_valid_and_warning_free(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["CC_VAR_DIR"] = str(tmp_path)
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "spectacular",
            "--validate",
            "--fail-on-warn",
            "--file",
            str(tmp_path / "schema.yaml"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "/api/v1/users/" in (tmp_path / "schema.yaml").read_text()
