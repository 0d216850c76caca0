"""Extension objects, bare here and `init_app`-ed in the factory."""

import hashlib
import hmac
from typing import Any

from flask import Blueprint, current_app, request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFProtect
from werkzeug.datastructures import Headers

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


class _Talisman(Talisman):
    """Flask-Talisman with its headers worked out once instead of on every request.

    This app's policies are the same for every view (no per-view options, no nonces), so Talisman's
    per-request work (looking up the view's options four times, parsing the policies back into
    header values) gives the same headers every time. Only HSTS depends on the request (it is sent
    over https only) and is still decided per request, by Talisman.
    """

    def init_app(self, app: Any, **kwargs: Any) -> None:
        if kwargs.get("content_security_policy_nonce_in"):
            raise ValueError("CSP nonces need Talisman's per-request headers")
        self._fixed_headers: list[tuple[str, str]] | None = None
        super().init_app(app, **kwargs)

    def __call__(self, **kwargs: Any) -> Any:
        raise NotImplementedError("per-view Talisman options are not supported: the headers are fixed")

    def _make_nonce(self) -> None:
        return None

    def _force_https(self) -> Any:
        return super()._force_https() if self.force_https else None

    def _set_response_headers(self, response: Any) -> Any:
        if self._fixed_headers is None:
            fixed = Headers()
            options = self._get_local_options()
            self._set_feature_policy_headers(fixed, options)
            self._set_permissions_policy_headers(fixed, options)
            self._set_document_policy_headers(fixed, options)
            self._set_frame_options_headers(fixed, options)
            self._set_content_security_policy_headers(fixed, options)
            self._set_referrer_policy_headers(fixed)
            self._fixed_headers = list(fixed.items())
        headers = response.headers
        for name, value in self._fixed_headers:
            headers[name] = value
        self._set_hsts_headers(headers)
        return response


talisman = _Talisman()


class _Limiter(Limiter):
    """Flask-Limiter that leaves the requests of a blueprint exempted as a whole (`exempt(bp)`: the
    API) out of its per-request check altogether.

    The exemption alone still has the limiter resolve limits, exemption scopes and its per-request
    context on every request of the blueprint, and the API's submit is the busiest route of all.
    Limits decorated on a view of such a blueprint are still checked, by the decorator itself.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._skipped_blueprints: set[str] = set()

    def exempt(self, obj: Any = None, **kwargs: Any) -> Any:
        if isinstance(obj, Blueprint) and not kwargs:
            self._skipped_blueprints.add(obj.name)
        return super().exempt(obj, **kwargs)

    def _check_request_limit(self, callable_name: str | None = None, in_middleware: bool = True) -> None:
        if in_middleware and request.blueprint in self._skipped_blueprints:
            return
        super()._check_request_limit(callable_name, in_middleware)


limiter = _Limiter(key_func=client_key)
