"""The application factory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask, Request, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_babel import get_locale
from itsdangerous import URLSafeTimedSerializer

from . import config as cfg
from .extensions import babel, csrf, db, limiter, login_manager, talisman
from .i18n import selection as i18n_selection
from .i18n.compile import compile_all as compile_catalogues
from .i18n.languages import direction, language_name, languages

ROOT = Path(__file__).resolve().parent.parent
API_PREFIX = "/api/"
# Resumable uploads also take the signed-in browser session (the web form's files, with CSRF).
UPLOADS_PREFIX = "/api/v1/uploads"


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then the environment (`INTAKE_*`), then `config` (tests)."""
    overrides = dict(config or {})
    instance_path = Path(overrides.pop("INSTANCE_PATH", None) or cfg.default_instance_path())
    app = Flask(
        __name__,
        instance_path=str(instance_path),
        template_folder=str(ROOT / "templates"),
        static_folder=None,  # served by web.static_files, under hashed names
    )
    app.config.update(cfg.defaults(instance_path))
    app.config.update(cfg.from_environment(os.environ))
    app.config.update(overrides)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = cfg.read_secret_key_file(instance_path)
    cfg.check_secret(app.config)
    if app.config["DEBUG"] and not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = "debug-only-" + "x" * 32
    _configure_keys(app, instance_path)
    _trust_proxies(app)
    from .media import UploadRequest

    app.request_class = UploadRequest  # uploads never reach a disk in the clear (see media.py)
    app.session_interface = _SessionInterface()
    from .retention import retention_rules

    retention_rules(app.config)  # a misspelt rule stops the start, it never silently keeps data
    # A request bigger than a whole report's worth of files is refused before it is read.
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_REPORT_BYTES"] + 2 * 1024 * 1024
    # Long narratives in several languages fit; multipart text fields above this are refused.
    app.config.setdefault("MAX_FORM_MEMORY_SIZE", 2 * 1024 * 1024)
    # The instance folder holds the database, uploads and keys of the embedded default: owner only.
    instance_path.mkdir(mode=0o700, parents=True, exist_ok=True)

    from .logs import install_log_filter

    install_log_filter(app)
    db.init_app(app)
    from .web import bodies

    bodies.register(app)  # before CSRFProtect and the session check: see web/bodies.py
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=i18n_selection.select_locale)
    i18n_selection.init_app(app)
    # A checkout that pulled new translations serves them without a reinstall (the install compiles
    # them too: buildtools/catalogues.py).
    compile_catalogues(Path(app.root_path) / "translations")
    _secure_headers(app)
    _page_weight(app)

    from workers.celery_app import init_celery

    init_celery(app)
    _register_blueprints(app)
    _per_response_csrf_tokens(app)
    _register_template_helpers(app)
    _configure_password_hasher(app)
    return app


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signing serializer built once per set of keys
    instead of on every request. The JSON API has no session at all: its callers authenticate
    each request with a bearer token, so no cookie is read there and none is ever set (a write
    to the session in an API view fails loudly, as Flask's null session does)."""

    def __init__(self) -> None:
        self._serializer: tuple[tuple[Any, ...], URLSafeTimedSerializer | None] | None = None

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(API_PREFIX) and (
                not request.path.startswith(UPLOADS_PREFIX) or "Authorization" in request.headers):
            return self.null_session_class()
        return super().open_session(app, request)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        if self._serializer is None or self._serializer[0] != keys:
            self._serializer = (keys, super().get_signing_serializer(app))
        return self._serializer[1]


def _trust_proxies(app: Flask) -> None:
    """X-Forwarded-For and -Proto are believed only from the number of proxies the operator
    configured (INTAKE_PROXY_HOPS, werkzeug's ProxyFix): with none, the headers are the client's to
    write and ignored, so nobody picks the address their rate limits and session binding use."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    hops = app.config["PROXY_HOPS"]
    if not isinstance(hops, int) or isinstance(hops, bool) or not 0 <= hops <= 5:
        raise cfg.ConfigError("INTAKE_PROXY_HOPS is the number of reverse proxies in front of the app: 0 to 5.")
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]


def _configure_keys(app: Flask, instance_path: Path) -> None:
    """The master keys (security.md, invariant 10): fail closed outside debug and tests."""
    from . import crypto

    source = crypto.KeySource(app.config, instance_path)
    if (app.config["DEBUG"] or app.config["TESTING"]) and source.from_file:
        instance_path.mkdir(mode=0o700, parents=True, exist_ok=True)
        crypto.create_master_key_file(source.path)
    try:
        source.keyring()
    except crypto.MasterKeyError as exc:
        raise cfg.ConfigError(str(exc)) from None
    app.extensions["intake_keys"] = source
    # Code outside any app context (as with the database engine) uses the latest app's keys.
    crypto.use_key_source(source)


def _register_blueprints(app: Flask) -> None:
    from .web import (
        admin,
        api,
        auth,
        dashboard,
        device,
        errors,
        exports,
        field,
        health,
        incidents,
        language,
        openrosa,
        packs,
        review,
        transfers,
        uploads,
        verify,
    )

    app.register_blueprint(auth.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(field.bp)
    app.register_blueprint(device.bp)
    app.register_blueprint(verify.bp)
    app.register_blueprint(review.bp)
    app.register_blueprint(incidents.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(transfers.bp)
    app.register_blueprint(exports.bp)
    app.register_blueprint(packs.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(uploads.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(openrosa.bp)
    app.register_blueprint(openrosa.basic_bp)
    app.register_blueprint(openrosa.password_bp)
    app.register_blueprint(language.bp)
    app.register_blueprint(openrosa.admin_bp)
    errors.register(app)
    # The JSON API authenticates with bearer tokens, never cookies, so CSRF does not apply to it.
    csrf.exempt(api.bp)
    # Resumable uploads check CSRF themselves, for the session only (web/uploads.py).
    csrf.exempt(uploads.bp)
    csrf.exempt(openrosa.bp)  # the token is in the URL, no cookie: nothing for a forged request to ride on
    csrf.exempt(openrosa.basic_bp)  # HTTP Basic with an ODK password, no cookie; Collect sends no CSRF token
    # Nothing in the API is rate-limited (its callers hold tokens; sign-in and codes are limited),
    # and the limiter then skips its requests entirely (extensions._Limiter).
    limiter.exempt(api.bp)
    limiter.exempt(uploads.bp)
    limiter.exempt(openrosa.bp)  # counted per device and account like the API (quotas.report_allowed)


def _register_template_helpers(app: Flask) -> None:
    from . import enums
    from .web.bidi import isolate, isolate_text
    from .web.numbers import filesize, megabytes, number
    from .web.times import localtime

    app.add_template_filter(localtime)  # every moment shown, with its zone named
    app.add_template_filter(isolate, "bdi")  # user text and codes kept whole in either direction
    app.add_template_filter(isolate_text, "bdi_text")  # the same where no markup can go (<title>)
    app.add_template_filter(number)  # counts and figures, and file sizes, as the reader's language writes them
    app.add_template_filter(filesize)

    @app.context_processor
    def _helpers() -> dict[str, Any]:
        locale = str(get_locale() or "en")
        return {
            "enums": enums,
            "megabytes": megabytes,
            "lang": locale.replace("_", "-"),
            "text_direction": direction(locale),
            "languages": languages(app.config["LANGUAGES"]),
            "this_page_in_any_language": i18n_selection.this_page_in_any_language,
            "language_name": lambda code: language_name(code, locale),
        }

    @app.after_request
    def _no_store(response: Any) -> Any:
        # Pages carry report content: no browser or proxy cache keeps a copy.
        if request.endpoint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        return response


# Scripts, styles and images only from this site, never inline; no plugins, frames or foreign forms.
CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def _secure_headers(app: Flask) -> None:
    """CSP, frame and referrer policy, HSTS and cookie flags (security.md, invariant 7)."""
    talisman.init_app(
        app,
        force_https=bool(app.config["FORCE_HTTPS"]),
        frame_options="DENY",
        content_security_policy=CONTENT_SECURITY_POLICY,
        referrer_policy="no-referrer",
        # Cookie flags follow the configuration (Secure is off only for local http development).
        session_cookie_secure=bool(app.config["SESSION_COOKIE_SECURE"]),
        session_cookie_http_only=True,
        session_cookie_samesite="Strict",
        permissions_policy={"browsing-topics": "()", "camera": "()", "microphone": "()",
                            "geolocation": "(self)"},
    )

def _page_weight(app: Flask) -> None:
    """Static files under hashed names and compression where it leaks nothing (delivery/,
    docs/page-weight.md)."""
    from .delivery import compression
    from .web import static_files

    # STATIC_PATH: another folder of static files (tests; a deployment that adds its own files).
    folder = app.config.get("STATIC_PATH") or Path(__file__).resolve().parent / "static"
    static_files.register(app, Path(folder))
    compression.init_app(app)


def _per_response_csrf_tokens(app: Flask) -> None:
    """Registered after the blueprints, so it runs after their request hooks: the session check may
    sign a browser out (and its CSRF value goes with the session) before the token is spelt."""
    from .delivery import csrf_tokens

    csrf_tokens.init_app(app, API_PREFIX)


def _configure_password_hasher(app: Flask) -> None:
    from .accounts import configure_hasher

    configure_hasher(app.config.get("ARGON2_PARAMS"))
