"""Channel credentials at rest: encrypted with Fernet (AES-128-CBC + HMAC-SHA256), or named by
an environment variable (``env:NAME``) so that they never reach the database at all.

Keys: ``CHANNEL_SECRET_KEYS`` (comma-separated Fernet keys, newest first: rotation decrypts
with any and encrypts with the first); without it, one key derived from ``SECRET_KEY``.
"""

import base64
import hashlib
import json
import os

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

ENV_PREFIX = "env:"


def _fernet() -> MultiFernet:
    keys = [k.strip() for k in settings.CHANNEL_SECRET_KEYS if k.strip()]
    if not keys:
        digest = hashlib.sha256(f"channel-secrets:{settings.SECRET_KEY}".encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    return MultiFernet([Fernet(k.encode()) for k in keys])


def seal(values: dict[str, str]) -> str:
    """The secrets as one encrypted token (empty values are dropped)."""
    clean = {k: v for k, v in values.items() if v}
    if not clean:
        return ""
    return _fernet().encrypt(json.dumps(clean, sort_keys=True).encode()).decode()


def unseal(token: str) -> dict[str, str]:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "Channel secrets cannot be decrypted: CHANNEL_SECRET_KEYS (or SECRET_KEY) changed "
            "without keeping the old key."
        ) from exc


def resolve(value: str) -> str:
    """A stored secret, or the environment variable an ``env:NAME`` value names."""
    if value.startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX) :]
        if name not in os.environ:
            raise ImproperlyConfigured(f"The environment variable {name} is not set.")
        return os.environ[name]
    return value
