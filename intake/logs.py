"""Logging that cannot carry report content.

Log lines of this project name reports by id and counts only. As a second line of defence, a
filter drops the arguments of any record from a library that would interpolate request data
(form values, JSON bodies, SQL parameters) into a message.
"""

from __future__ import annotations

import logging
from typing import Any

# Loggers whose messages may interpolate values from the request or the database.
_UNTRUSTED_PREFIXES = ("sqlalchemy.engine", "werkzeug", "gunicorn.access", "celery.app.trace")


class NoPayloadFilter(logging.Filter):
    """Strip interpolation arguments from records of loggers that could echo user input."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(_UNTRUSTED_PREFIXES) and record.args:
            if record.name.startswith("werkzeug"):
                # Keep the access line's shape (method, status) but not the query string.
                record.msg = "%s"
                record.args = (_werkzeug_summary(record),)
            else:
                record.msg = f"{record.getMessage().split('(', 1)[0][:80]} [arguments withheld]"
                record.args = ()
        return True


def _werkzeug_summary(record: logging.LogRecord) -> str:
    args: Any = record.args
    if isinstance(args, tuple) and len(args) >= 2:
        line = str(args[0]).split("?", 1)[0]
        return f"{line} {args[1]}"
    return "request"


# One instance: addFilter ignores a filter already present, so creating several apps in one
# process (tests, CLI commands) does not stack copies on the same loggers.
_FILTER = NoPayloadFilter()


def install_log_filter(app: Any) -> None:
    for handler in logging.getLogger().handlers:
        handler.addFilter(_FILTER)
    for name in _UNTRUSTED_PREFIXES:
        logging.getLogger(name).addFilter(_FILTER)
    app.logger.addFilter(_FILTER)
