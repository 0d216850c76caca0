"""What migrations that seal existing data get from `intake db upgrade` (see intake.cli.upgrade_database)."""

from __future__ import annotations

from typing import Any

from alembic import op

from intake import crypto


def _attributes() -> dict[str, Any]:
    config = op.get_context().config
    return config.attributes if config is not None else {}


def keyring_for_sealing(what: str) -> crypto.Keyring:
    """The master keys, for a migration about to seal `what`; the tables are rewritten after it commits
    (so no old row version keeps the plain values). Refuses when run without `intake db upgrade`."""
    attributes = _attributes()
    source: crypto.KeySource | None = attributes.get("key_source")
    if source is None:
        raise RuntimeError(f"this migration seals {what}: run it with `intake db upgrade`")
    attributes["sealed_existing_rows"] = True
    return source.keyring()


def upload_path() -> str:
    path = _attributes().get("upload_path")
    if path is None:
        raise RuntimeError("this migration seals stored files: run it with `intake db upgrade`")
    return str(path)
