"""Which responses are compressed, and why no other is (BREACH).

BREACH: an attacker who can make a signed-in browser send many requests whose responses echo text
the attacker chose (a query parameter, a field of a re-shown form), and who can watch the sizes of
the compressed answers, learns a secret in the same response — a CSRF token, a witness's name — a
character at a time, because a guess that matches the secret compresses better. Compression is
safe where a response has no attacker-chosen text, or no secret. So:

1. Static files (`/static/…`): always compressed (by their own route, `web.static_files`); they
   hold no secret and echo nothing.
2. The pages in `COMPRESSIBLE_PAGES`, and only for GET/HEAD: each shows nothing taken from the
   request (no query or path parameter, no posted field is echoed), so no attacker-chosen text is
   in them. One that shows a flashed message (text an earlier request left, which may name a file)
   is not compressed either. Their one secret, the CSRF token, is also different in every response
   (`csrf_tokens`), so even a page that one day echoes something gives an attacker no repeated
   secret to converge on.
3. Everything else is sent uncompressed: every POST answer (a re-shown form echoes what was posted
   next to the token, names and kept file names), every page that echoes a query or path parameter
   or shows report content, revealed originals, the API and the resumable uploads.

A page is added to the list only after checking it against rule 2 (tests/test_delivery.py checks
that a re-shown form is not compressed and that tokens differ in every response).
"""

from __future__ import annotations

from flask import Flask, Request
from flask.globals import request_ctx
from flask.wrappers import Response
from flask_compress import Compress

# The new-report form (its empty GET is the page the 25 KB budget is about) and the sign-in page.
COMPRESSIBLE_PAGES = frozenset({"field.new_report", "auth.sign_in"})

compress = Compress()


def may_compress(request: Request, response: Response) -> bool:
    """Rule 2 above: a listed page, fetched (not posted), answered as HTML, with no flashed message."""
    return (
        request.method in ("GET", "HEAD")
        and request.endpoint in COMPRESSIBLE_PAGES
        and response.mimetype == "text/html"
        and not response.is_streamed
        and not request_ctx.flashes  # None when none were read, [] when there were none
    )


def init_app(app: Flask) -> None:
    """Flask-Compress for the listed pages only (its own after-request hook stays unregistered)."""
    app.config.setdefault("COMPRESS_REGISTER", False)
    app.config.setdefault("COMPRESS_STREAMS", False)
    # Pages are made per request: a fast level, gzip first (Chromium offers br and zstd only over
    # https, and every browser takes gzip).
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])
    app.config.setdefault("COMPRESS_LEVEL", 6)
    app.config.setdefault("COMPRESS_BR_LEVEL", 5)
    compress.init_app(app)

    @app.after_request
    def _compress_safe_pages(response: Response) -> Response:
        from flask import request

        if may_compress(request, response):
            return compress.after_request(response)
        return response
