"""The application factory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, request
from flask_babel import get_locale

from . import config as cfg
from .extensions import babel, csrf, db, login_manager

ROOT = Path(__file__).resolve().parent.parent
RTL_LANGUAGES = {"ar", "fa", "he", "ur"}


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then the environment (`INTAKE_*`), then `config` (tests)."""
    overrides = dict(config or {})
    instance_path = Path(overrides.pop("INSTANCE_PATH", None) or cfg.default_instance_path())
    app = Flask(
        __name__,
        instance_path=str(instance_path),
        template_folder=str(ROOT / "templates"),
        static_folder="static",
    )
    app.config.update(cfg.defaults(instance_path))
    app.config.update(cfg.from_environment(__import__("os").environ))
    app.config.update(overrides)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = cfg.read_secret_key_file(instance_path)
    cfg.check_secret(app.config)
    if app.config["DEBUG"] and not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = "debug-only-" + "x" * 32
    # A request bigger than a whole report's worth of files is refused before it is read.
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_REPORT_BYTES"] + 2 * 1024 * 1024
    # Long narratives in several languages fit; multipart text fields above this are refused.
    app.config.setdefault("MAX_FORM_MEMORY_SIZE", 2 * 1024 * 1024)
    # The instance folder holds the database, uploads and keys of the embedded default: owner only.
    instance_path.mkdir(mode=0o700, parents=True, exist_ok=True)

    from .logs import install_log_filter

    install_log_filter(app)
    db.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    babel.init_app(app, locale_selector=_select_locale)

    from workers.celery_app import init_celery

    init_celery(app)
    _register_blueprints(app)
    _register_template_helpers(app)
    _configure_password_hasher(app)
    return app


def _select_locale() -> str | None:
    return request.accept_languages.best_match(_supported_languages())


def _supported_languages() -> list[str]:
    from flask import current_app

    return list(current_app.config["LANGUAGES"])


def _register_blueprints(app: Flask) -> None:
    from .web import api, auth, errors, field, health, verify

    app.register_blueprint(auth.bp)
    app.register_blueprint(field.bp)
    app.register_blueprint(verify.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(health.bp)
    errors.register(app)
    # The JSON API authenticates with bearer tokens, never cookies, so CSRF does not apply to it.
    csrf.exempt(api.bp)


def _register_template_helpers(app: Flask) -> None:
    from . import enums
    from .media import megabytes

    @app.context_processor
    def _helpers() -> dict[str, Any]:
        locale = str(get_locale() or "en")
        return {
            "enums": enums,
            "megabytes": megabytes,
            "lang": locale,
            "text_direction": "rtl" if locale.split("_")[0] in RTL_LANGUAGES else "ltr",
        }

    @app.after_request
    def _security_headers(response: Any) -> Any:
        # The full header set (CSP and friends) is the security issue's; these cost nothing now.
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if request.endpoint and not request.endpoint.startswith("static"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response


def _configure_password_hasher(app: Flask) -> None:
    from .accounts import configure_hasher

    configure_hasher(app.config.get("ARGON2_PARAMS"))
