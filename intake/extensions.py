"""Extension objects, bare here and `init_app`-ed in the factory."""

import hashlib
import hmac

from flask import current_app, request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFProtect

from .db import Database


def keyed_digest(kind: str, value: str) -> str:
    """A short keyed hash of `value`: what the rate limiter keeps instead of an address or an
    account (its storage is Redis in production, and a seized Redis must not name anyone)."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32]


def client_key() -> str:
    """The rate limiter's default key: the client's address, hashed. (Behind a proxy every client
    has the proxy's address; configure the proxy to limit, or ProxyFix to pass the real one.)"""
    return keyed_digest("client", request.remote_addr or "unknown")


db = Database()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
talisman = Talisman()
limiter = Limiter(key_func=client_key)
