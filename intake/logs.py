"""Logging that cannot carry report content.

Log lines of this project name reports by id and counts only. As a second line of defence, every
record from a library that would interpolate request or file data (form values, JSON bodies, SQL
parameters, image tags) into a message loses its arguments as it is created — whatever logger or
handler it then passes through.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

# Loggers whose messages may interpolate values from the request or the database.
_UNTRUSTED_PREFIXES = ("sqlalchemy.engine", "werkzeug", "gunicorn.access", "celery.app.trace", "PIL")


# Celery's task lines name these by themselves; everything else in them (return values, exceptions
# and their messages) could quote a report.
_TRACE_FIELDS_SHOWN = frozenset({"name", "id", "runtime"})


class NoPayloadFilter(logging.Filter):
    """Strip interpolation arguments from records of loggers that could echo user input."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(_UNTRUSTED_PREFIXES) and record.args:
            if record.name.startswith("werkzeug"):
                # Keep the access line's shape (method, status) but not the query string.
                record.msg = "%s"
                record.args = (_werkzeug_summary(record),)
            elif record.name.startswith("celery.app.trace") and isinstance(record.args, Mapping):
                # Which task, which message and how long, never what it returned or raised.
                record.args = {key: value if key in _TRACE_FIELDS_SHOWN else "[withheld]"
                               for key, value in record.args.items()}
            else:
                # The format string alone, never the message with the values put in.
                record.msg = f"{str(record.msg)[:80]} [arguments withheld]"
                record.args = ()
        return True


# A phone's credential is the path segment after /openrosa/ (intake.openrosa.devices): never logged.
# Not the HTTP Basic routes' own names (`/openrosa/formList`, `/openrosa/forms/…`): no token in those.
_DEVICE_TOKEN_IN_PATH = re.compile(r"(/openrosa/)(?!(?:formList|submission|forms)(?:[/\s]|$))[^/\s]+")


def _werkzeug_summary(record: logging.LogRecord) -> str:
    args: Any = record.args
    if isinstance(args, tuple) and len(args) >= 2:
        line = _DEVICE_TOKEN_IN_PATH.sub(r"\1[device]", str(args[0]).split("?", 1)[0])
        return f"{line} {args[1]}"
    return "request"


# One instance: addFilter ignores a filter already present, so creating several apps in one
# process (tests, CLI commands) does not stack copies on the same loggers.
_FILTER = NoPayloadFilter()


def _make_record_factory(inner: Any) -> Any:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = inner(*args, **kwargs)
        _FILTER.filter(record)
        return record

    factory.intake_payload_filter = True  # type: ignore[attr-defined]
    return factory


def install_log_filter(app: Any) -> None:
    """Apply the filter to every record as it is made (a logger's filter would miss its children's
    records, a handler's filter handlers added later), once per process."""
    current = logging.getLogRecordFactory()
    if not getattr(current, "intake_payload_filter", False):
        logging.setLogRecordFactory(_make_record_factory(current))
    # Pillow logs every image tag it reads or writes, values included, at DEBUG.
    logging.getLogger("PIL").setLevel(max(logging.getLogger("PIL").level, logging.INFO))
