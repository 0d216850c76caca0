"""Keys for what the web form keeps on a phone: drafts and the outbox (static/outbox.js).

The browser encrypts drafts and unsent reports (and their files) with AES-256-GCM before they
reach IndexedDB. The key is never stored on the device: the server derives it per user from its
secret key and hands it to a signed-in page, which holds it in memory only. A phone picked up with
the browser closed, or after its session was signed out, holds only ciphertext; reading it takes
the account's password (and second factor). See docs/field-form.md, "The web form on a bad link".

Derived, not stored: nothing to migrate or back up, and a rotation of the secret key keeps old
drafts readable while the previous secret is among SECRET_KEY_FALLBACKS (each key has an id, so
the browser knows which one opens an entry).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

INFO = b"intake:device-drafts:v1"


@dataclass(frozen=True)
class DeviceKey:
    """One AES-256 key for a user's device storage, and the id the browser files entries under."""

    key_id: str
    key: bytes

    def as_json(self) -> dict[str, str]:
        return {"id": self.key_id, "key": base64.b64encode(self.key).decode()}


def device_key(secret: str | bytes, user_public_id: str) -> DeviceKey:
    """The key of one user under one server secret (HKDF-SHA256)."""
    material = secret.encode() if isinstance(secret, str) else secret
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=user_public_id.encode(), info=INFO).derive(material)
    # The id names the key without revealing it (and without naming the user).
    key_id = hmac.new(key, b"intake:device-key-id", hashlib.sha256).hexdigest()[:16]
    return DeviceKey(key_id, key)


def device_keys(secrets: Iterable[str | bytes], user_public_id: str) -> list[DeviceKey]:
    """The current key first (new entries use it), then those of the fallback secrets."""
    return [device_key(secret, user_public_id) for secret in secrets if secret]
