"""The one error the derivative functions raise for a file they will not make a derivative of."""

from __future__ import annotations


class DerivativeRefused(Exception):
    """The file cannot be made safe to show (undecodable, too large, a tool failed or left metadata).

    The message says why in plain words and never quotes the file's content or metadata, so it can be
    logged and stored as the attachment's status reason.
    """
