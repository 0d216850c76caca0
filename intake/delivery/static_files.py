"""Static files under names that carry a hash of their content, cacheable for a year.

At start-up every file under the static folder (vendored libraries included) is read and hashed:
`intake.css` is also served as `intake.<12 hex>.css`, `vendor/x-1.0/x.min.js` as
`vendor/x-1.0/x.min.<12 hex>.js`. `url_for('static', filename='intake.css')` gives the hashed name
(a URL default, see `hashed_url_defaults`), so a changed file gets a new URL and a phone never asks
again whether its copy is still good. No build step: the hash is the content's, worked out when the
app starts.

The files are small (no images or fonts, by design) and kept in memory, with their gzip and brotli
forms made once per process on first request at the strongest levels (a one-off cost of a few
milliseconds, then every phone gets the smallest bytes). Nothing here is secret: these responses
are compressed whatever the request (see `compression`).
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import threading
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import brotli

HASH_LENGTH = 12
# Hashed names never change content: a year, and no revalidation (RFC 8246 `immutable`).
IMMUTABLE_MAX_AGE = 365 * 24 * 3600
# Plain names (old links, a service worker's own script) can change with the next release.
PLAIN_MAX_AGE = 300
COMPRESSIBLE_TYPES = frozenset({
    "text/css", "text/javascript", "application/javascript", "application/json", "application/manifest+json",
    "text/plain", "text/html", "image/svg+xml", "application/wasm", "text/markdown",
})
ENCODINGS = ("br", "gzip")


@dataclass
class StaticFile:
    """One file of the static folder: its content, type, digest and hashed name."""

    name: str
    content: bytes
    mimetype: str
    digest: str
    _encoded: dict[str, bytes | None] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def hashed_name(self) -> str:
        return hashed_name(self.name, self.digest)

    @property
    def compressible(self) -> bool:
        return self.mimetype in COMPRESSIBLE_TYPES

    def encoded(self, encoding: str) -> bytes | None:
        """The content in `encoding` (br, gzip), or None when it would not be smaller."""
        if not self.compressible:
            return None
        with self._lock:
            if encoding not in self._encoded:
                if encoding == "br":
                    data = brotli.compress(self.content, quality=11)
                elif encoding == "gzip":
                    data = gzip.compress(self.content, compresslevel=9, mtime=0)
                else:
                    raise ValueError(encoding)
                self._encoded[encoding] = data if len(data) < len(self.content) else None
            return self._encoded[encoding]


def hashed_name(name: str, digest: str) -> str:
    """`dir/file.min.js` → `dir/file.min.<hash>.js` (the hash before the last suffix)."""
    path = PurePosixPath(name)
    short = digest[:HASH_LENGTH]
    if path.suffix:
        return str(path.with_name(f"{path.stem}.{short}{path.suffix}"))
    return str(path.with_name(f"{path.name}.{short}"))


# Files by (path, size, modification time), for every app of the process: the test suite builds an
# app per test, and a release's files are read and hashed once.
_read: dict[tuple[str, int, int], StaticFile] = {}
_read_lock = threading.Lock()


def _load(path: Path, name: str) -> StaticFile:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _read_lock:
        cached = _read.get(key)
        if cached is not None and cached.name == name:
            return cached
    content = path.read_bytes()
    mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if name.endswith((".js", ".mjs")):
        mimetype = "text/javascript"  # RFC 9239; some systems' tables still say application/x-javascript
    loaded = StaticFile(name, content, mimetype, hashlib.sha256(content).hexdigest())
    with _read_lock:
        _read[key] = loaded
    return loaded


class StaticFiles:
    """The static folder's files, by plain and by hashed name."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.by_name: dict[str, StaticFile] = {}
        self.by_hashed_name: dict[str, StaticFile] = {}
        self.scan()

    def scan(self) -> None:
        """Read the folder (at start-up; on every request in debug mode, where files are edited)."""
        by_name: dict[str, StaticFile] = {}
        if self.folder.is_dir():
            for path in sorted(self.folder.rglob("*")):
                relative = path.relative_to(self.folder)
                if not path.is_file() or any(part.startswith(".") for part in relative.parts):
                    continue
                name = relative.as_posix()
                by_name[name] = _load(path, name)
        self.by_name = by_name
        self.by_hashed_name = {f.hashed_name: f for f in by_name.values()}

    def hashed(self, name: str) -> str | None:
        """The hashed name of the file `name`, or None if there is no such file."""
        found = self.by_name.get(name)
        return found.hashed_name if found is not None else None

    def lookup(self, requested: str) -> tuple[StaticFile, bool] | None:
        """The file a request names, and whether the name was the hashed (immutable) one."""
        found = self.by_hashed_name.get(requested)
        if found is not None:
            return found, True
        found = self.by_name.get(requested)
        return (found, False) if found is not None else None


def hashed_url_defaults(files: StaticFiles) -> Any:
    """A URL-defaults function: `url_for('static', filename=…)` names the hashed file."""

    def _defaults(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint != "static" or "filename" not in values:
            return
        hashed = files.hashed(str(values["filename"]))
        if hashed is not None:
            values["filename"] = hashed

    return _defaults
