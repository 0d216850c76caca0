"""What the benches share: their PostgreSQL database, made ready, and the small photo they send."""

from __future__ import annotations

import io
from urllib.parse import urlsplit, urlunsplit


def ensure_database(url: str) -> None:
    """Create the bench database if it does not exist (connecting to `postgres` to do it)."""
    from sqlalchemy import create_engine, text

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = create_engine(urlunsplit(parts._replace(path="/postgres")), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()


def reset_and_migrate(url: str) -> None:
    """An empty `public` schema, migrated to the head revision."""
    from sqlalchemy import create_engine, text

    from intake.cli import upgrade_database

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade_database(url)


def photo() -> bytes:
    """A small real photo (480×360 JPEG) with EXIF time, camera and GPS; new noise each call."""
    from PIL import Image

    image = Image.effect_noise((480, 360), 40).convert("RGB")
    exif = image.getexif()
    exif[0x0132] = "2026:03:14 07:05:00"  # DateTime
    exif[0x010F] = "Bench"  # Make
    exif.get_ifd(0x8825).update({1: "N", 2: (49.0, 11.0, 14.28), 3: "E", 4: (37.0, 17.0, 6.0)})
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80, exif=exif.tobytes())
    return buffer.getvalue()
