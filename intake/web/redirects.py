"""Where a `next` argument may send the browser: same-site paths only.

The check reads the target as a browser reads a `Location` header, not as Python's URL parser does:
browsers turn backslashes into slashes (`/\\evil.example` is `//evil.example`, another site), drop
tabs and newlines inside URLs, and strip leading spaces and control characters. So anything with a
control character, surrounding whitespace, a scheme or an authority is refused, and the path is
returned with its backslashes already turned into slashes — exactly what the browser would follow.
"""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_LENGTH = 2000


def same_site_path(target: str | None) -> str | None:
    """`target` as a path of this site to redirect to, or None when it is not one."""
    if not target or len(target) > MAX_LENGTH:
        return None
    if target != target.strip() or any(ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 for char in target):
        return None  # CR/LF would split the header; browsers drop tabs and newlines and trim spaces
    path = target.replace("\\", "/")
    if not path.startswith("/") or path.startswith("//"):
        return None
    parts = urlsplit(path)
    if parts.scheme or parts.netloc:
        return None
    return path
