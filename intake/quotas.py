"""Rate limits and quotas on what one reporter can send: far above what a field team sends, far below a flood.

Reports per bearer token and per user (a user may hold a token per phone), and bytes of files per
user per day. They are counted in Flask-Limiter's storage (`RATELIMIT_STORAGE_URI`: Redis in
production, so every gunicorn worker shares the counts) under keyed hashes, never a token or an id
in the clear. Each check is one counter increment per limit, so the API's submit stays one SQL
statement and a few microseconds of counting (memory://) or one Redis round trip per limit.

A limit that is empty in the configuration is off (the load bench turns them off). When the
storage is away, the request is let through (`RATELIMIT_SWALLOW_ERRORS`, as for sign-in): losing a
report is worse than missing a count for a moment.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Mapping
from typing import Any

from limits import RateLimitItem, RateLimitItemPerDay, parse_many

from .extensions import keyed_digest, limiter

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=32)
def _items(spec: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(spec)) if spec.strip() else ()


def limits_of(config: Mapping[str, Any], key: str) -> tuple[RateLimitItem, ...]:
    """The limits a setting names ("60 per minute;600 per hour"); none if it is empty or 0."""
    spec = config.get(key)
    return _items(str(spec)) if spec else ()


def _retry_after(item: RateLimitItem, identifiers: tuple[str, ...]) -> int:
    reset = limiter.limiter.get_window_stats(item, *identifiers).reset_time
    return max(1, math.ceil(reset - time.time()))


def _hit(items: tuple[RateLimitItem, ...], identifiers: tuple[str, ...], cost: int = 1) -> int | None:
    """Count `cost` against every limit; the seconds to wait when one of them is used up."""
    if not items:
        return None
    try:
        for item in items:
            if not limiter.limiter.hit(item, *identifiers, cost=cost):
                return _retry_after(item, identifiers)
    except Exception:  # the storage is away: count nothing rather than refuse reports
        if not limiter._swallow_errors:
            raise
        log.warning("rate limit storage unavailable: request let through uncounted")
    return None


def report_allowed(config: Mapping[str, Any], token_digest: str | None, user_id: int) -> int | None:
    """Count one report submission for the token (None: the web form) and its user; the seconds to
    wait, or None to go on."""
    prefix = str(config.get("RATELIMIT_KEY_PREFIX") or "intake")
    if token_digest is not None:
        waits = _hit(limits_of(config, "API_REPORTS_PER_TOKEN"),
                     (prefix, "reports-token", keyed_digest("token", token_digest)))
        if waits is not None:
            return waits
    return _hit(limits_of(config, "REPORTS_PER_USER"), (prefix, "reports-user", keyed_digest("user", str(user_id))))


def _bytes_item(config: Mapping[str, Any]) -> RateLimitItem | None:
    per_day = int(config.get("UPLOAD_BYTES_PER_USER_PER_DAY") or 0)
    return RateLimitItemPerDay(per_day) if per_day > 0 else None


def _bytes_identifiers(config: Mapping[str, Any], user_id: int) -> tuple[str, ...]:
    prefix = str(config.get("RATELIMIT_KEY_PREFIX") or "intake")
    return (prefix, "upload-bytes-user", keyed_digest("user", str(user_id)))


def upload_room(config: Mapping[str, Any], user_id: int) -> tuple[int | None, int]:
    """Bytes the user may still upload today (None: no quota), and the seconds until that grows."""
    item = _bytes_item(config)
    if item is None:
        return None, 0
    identifiers = _bytes_identifiers(config, user_id)
    try:
        stats = limiter.limiter.get_window_stats(item, *identifiers)
    except Exception:
        if not limiter._swallow_errors:
            raise
        log.warning("rate limit storage unavailable: upload quota not checked")
        return None, 0
    return stats.remaining, max(1, math.ceil(stats.reset_time - time.time()))


def count_upload(config: Mapping[str, Any], user_id: int, size: int) -> int | None:
    """Count a stored file's bytes against the user's daily quota; seconds to wait if it does not fit."""
    item = _bytes_item(config)
    if item is None or size <= 0:
        return None
    return _hit((item,), _bytes_identifiers(config, user_id), cost=size)
