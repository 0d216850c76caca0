"""CSRF tokens that are different in every response, so compression cannot leak them (BREACH).

Flask-WTF's token is the session's random value signed with a timestamp: the same string in every
response of the same second, and the same leading part (the signed value) for the whole session —
it is not masked. An attacker measuring compressed sizes needs many responses carrying the same
secret; here no two responses carry the same token.

Each response gets a token that Flask-WTF's own, unchanged check accepts: the signed payload is the
JSON text of the session's value, with each character written either as itself or as a `\\uXXXX`
escape, chosen at random (2^40 spellings of a 40-character value, all reading back as the same
string). The signature covers the spelling, so the whole token differs every time, and forging one
still needs the secret key. Forms, the `csrf_token()` template helper and the X-CSRFToken header
of the page's scripts all keep working, since nothing on the checking side changes.
"""

from __future__ import annotations

import secrets

from flask import Flask, current_app, g, request, session
from itsdangerous import URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode

FIELD = "csrf_token"
SALT = "wtf-csrf-token"  # Flask-WTF's


def spelling(value: str) -> str:
    """`value` as a JSON string, each character itself or escaped, at random."""
    parts = []
    for char in value:
        if secrets.randbits(1):
            parts.append(f"\\u{ord(char):04x}" if secrets.randbits(1) else f"\\u{ord(char):04X}")
        else:
            parts.append(char)
    return '"' + "".join(parts) + '"'


def fresh_token(raw: str) -> str:
    """A signed token for the session value `raw`, spelt anew."""
    secret = current_app.config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key
    if not secret:
        raise RuntimeError("no secret key to sign CSRF tokens with")  # the factory refuses to start without
    serializer = URLSafeTimedSerializer(secret, salt=SALT)
    payload = base64_encode(spelling(raw).encode("ascii"))
    return serializer.make_signer(SALT).sign(payload).decode("ascii")


def init_app(app: Flask, api_prefix: str) -> None:
    """Before each page request, give Flask-WTF this response's token (it uses `g.csrf_token`
    when set). A session without a CSRF value yet gets Flask-WTF's first one, in one response.
    Call it after every other request hook is registered: one that clears the session (signing an
    idle browser out) must run first, or the token would be spelt for a value the session lost."""

    @app.before_request
    def _token_for_this_response() -> None:
        if request.endpoint == "static" or request.path.startswith(api_prefix):
            return
        raw = session.get(FIELD)
        if isinstance(raw, str) and raw.isascii():
            setattr(g, FIELD, fresh_token(raw))
