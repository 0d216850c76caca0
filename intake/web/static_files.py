"""The static files' route: hashed names cached for a year, plain names for five minutes, each
sent brotli- or gzip-compressed when the browser takes it (`delivery.static_files`)."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, abort, current_app, request
from werkzeug.wrappers import Response

from ..delivery.static_files import (
    ENCODINGS,
    IMMUTABLE_MAX_AGE,
    PLAIN_MAX_AGE,
    StaticFile,
    StaticFiles,
    hashed_url_defaults,
)

EXTENSION = "intake_static"


def register(app: Flask, folder: Path) -> None:
    """Serve `folder` at /static/ (endpoint `static`, as Flask's own), with hashed names in url_for."""
    files = StaticFiles(folder)
    app.extensions[EXTENSION] = files
    app.add_url_rule("/static/<path:filename>", endpoint="static", view_func=static_file)
    app.url_defaults(hashed_url_defaults(files))
    if app.debug:
        # Files are edited while the development server runs: new content, new hash, every request.
        app.before_request(files.scan)


def static_file(filename: str) -> Response:
    files: StaticFiles = current_app.extensions[EXTENSION]
    found = files.lookup(filename)
    if found is None:
        abort(404)
    file, immutable = found
    encoding, body = _best_encoding(file)
    response = Response(body, mimetype=file.mimetype)
    if encoding:
        response.headers["Content-Encoding"] = encoding
    if file.compressible:
        response.vary.add("Accept-Encoding")
    # One tag per content and encoding: a cache never serves gzip bytes to a request for br.
    response.set_etag(file.digest[:32] + (f"-{encoding}" if encoding else ""))
    response.cache_control.public = True
    if immutable:
        response.cache_control.max_age = IMMUTABLE_MAX_AGE
        response.cache_control.immutable = True
    else:
        response.cache_control.max_age = PLAIN_MAX_AGE
    return response.make_conditional(request)


def _best_encoding(file: StaticFile) -> tuple[str | None, bytes]:
    """The smallest form the browser accepts (br before gzip at equal preference)."""
    accepted = request.accept_encodings
    best: tuple[float, str] | None = None
    for encoding in ENCODINGS:
        quality = accepted[encoding]
        if quality > 0 and (best is None or quality > best[0]):
            best = (quality, encoding)
    if best is not None:
        data = file.encoded(best[1])
        if data is not None:
            return best[1], data
    return None, file.content
