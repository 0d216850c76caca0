"""Filing what Collect sends: one report per instance, whatever the network does.

`meta/instanceID` is the submission id in the intake journal (`reports.submit_report`, the web
form's path: the report is filed in the same transaction as its journal row), so a retry through
any channel finds the same report and receipt. The instance XML is an original: kept sealed under
the report's data key, with its SHA-256, in `models.OdkInstance`. The same instance ID with the
same XML again (a resend after a cut connection, or the next part of a split submission) adds the
files it carries and answers with the first receipt; with other XML it is a conflict. An edit in
Collect (a new instance ID whose `meta/deprecatedID` names the earlier one) is a new report that
names the one it replaces, audited: what a verifier saw is never overwritten.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..enums import AuditAction, Channel
from ..media import attach_to_report, store_upload
from ..models import DeviceToken, OdkInstance, Report
from ..reports import submit_report
from ..schema import ReportIn, errors_by_field
from .instance import Instance, InstanceRefused, parse


class InstanceConflict(Exception):
    """The instance ID was sent before with other XML: nothing was stored."""


class InstanceInFlight(Exception):
    """The report of this instance ID is there but its instance row is not yet seen by this
    transaction (SQLite's snapshot): try again in a new transaction, which finds it."""


class TooManyReports(Exception):
    """A new report would take the device or its account past their limits; nothing was stored."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Received:
    report: Report
    created: bool  # False for a resend or a later part of a split submission
    files_added: int


def _refused_by_schema(exc: ValidationError) -> InstanceRefused:
    errors = errors_by_field(exc.errors())
    # Field paths and the schema's messages: never the values sent.
    summary = "; ".join(f"{key}: {' '.join(messages)}" for key, messages in list(errors.items())[:5])
    return InstanceRefused(f"The report has errors, fix them in the form and send it again — {summary}")


def receive_instance(session: Session, config: Mapping[str, Any], device: DeviceToken, xml: bytes,
                     files: Mapping[str, IO[bytes]], count_report: Callable[[], int | None] = lambda: None,
                     reserved: tuple[str, str] | None = None) -> Received:
    """File an instance (or add the files of a later part), in the caller's transaction.

    Raises `InstanceRefused` (unreadable XML, unknown form, a report the schema refuses),
    `InstanceConflict`, `TooManyReports` (when `count_report`, called only for an instance that would
    be a new report, says how long to wait: resends and later parts are never counted), and what
    `media.attach_to_report` raises for a file; the caller rolls back
    on any of them and commits otherwise, then dispatches the report's pipeline. `reserved`: the
    public id and receipt an encrypted instance was acknowledged with (`openrosa.decrypt`).
    """
    parsed = parse(xml)
    try:
        text = xml.decode("utf-8")  # kept as sent: Collect writes UTF-8
    except UnicodeDecodeError:
        raise InstanceRefused("The form's XML is not UTF-8.") from None
    reporter = device.user
    sha256 = hashlib.sha256(xml).hexdigest()
    earlier = session.scalar(select(OdkInstance).where(OdkInstance.reporter_id == reporter.id,
                                                       OdkInstance.instance_id == parsed.instance_id))
    if earlier is not None:
        if earlier.xml_sha256 != sha256:
            raise InstanceConflict(parsed.instance_id)
        added = _attach(session, config, earlier.report, device, parsed, files, filed_now=False)
        return Received(earlier.report, created=False, files_added=added)
    try:
        data = ReportIn.model_validate(parsed.report)
    except ValidationError as exc:
        raise _refused_by_schema(exc) from None
    if (waits := count_report()) is not None:
        raise TooManyReports(waits)
    filing = submit_report(session, reporter, data, Channel.ODK, parsed.instance_id,
                           int(config["PIPELINE_DEADLINE_SECONDS"]), reserved=reserved)
    if not filing.created:
        # Filed meanwhile: by a request with the same instance (Collect sending again while its first
        # send was still in flight: the journal's unique key made this one wait for it), or through
        # another channel with the same key. One id, one report; only the same XML is a replay.
        winner = session.scalar(select(OdkInstance).where(OdkInstance.reporter_id == reporter.id,
                                                          OdkInstance.instance_id == parsed.instance_id))
        if winner is None and filing.report.channel == Channel.ODK:
            raise InstanceInFlight(parsed.instance_id)  # filed with its instance row, in one transaction
        if winner is None or winner.xml_sha256 != sha256:
            raise InstanceConflict(parsed.instance_id)
        added = _attach(session, config, winner.report, device, parsed, files, filed_now=False)
        return Received(winner.report, created=False, files_added=added)
    report = filing.report
    replaced = None
    if parsed.deprecated_id is not None:
        replaced = session.scalar(select(OdkInstance).where(OdkInstance.reporter_id == reporter.id,
                                                            OdkInstance.instance_id == parsed.deprecated_id))
    kept = OdkInstance(report=report, reporter_id=reporter.id, device_token_id=device.id,
                       instance_id=parsed.instance_id, form_version=parsed.form_version[:64], xml_sha256=sha256,
                       xml_size=len(xml), deprecated_id=parsed.deprecated_id,
                       replaces_report_id=replaced.report_id if replaced is not None else None,
                       received_at=report.received_at)
    kept.xml = text
    session.add(kept)
    session.flush()
    if parsed.deprecated_id is not None:
        audit.record(AuditAction.ODK_EDIT_RECEIVED, actor=reporter, organisation_id=report.organisation_id,
                     target_type="report", target_id=report.public_id,
                     detail={"replaces": replaced.report.public_id if replaced is not None else "unknown",
                             "device": device.public_id}, session=session)
    added = _attach(session, config, report, device, parsed, files, filed_now=True)
    return Received(report, created=True, files_added=added)


def _attach(session: Session, config: Mapping[str, Any], report: Report, device: DeviceToken, parsed: Instance,
            files: Mapping[str, IO[bytes]], *, filed_now: bool) -> int:
    """Store the parts the instance names (sniffed, limited, sealed, hashed as web uploads are).

    With the report just filed its files are part of it (`store_upload`, as the web form's files
    join their report); later ones join it as any file added to a filed report does
    (`attach_to_report`: open to files, the daily bytes, audited)."""
    added = 0
    for answer in parsed.media:
        stream = files.get(answer.filename)
        if stream is None:
            continue  # in another part of a split submission
        if filed_now:
            _attachment, created = store_upload(session, dict(config), stream, answer.filename, device.user,
                                                report=report, description=answer.description)
        else:
            _attachment, created = attach_to_report(session, dict(config), report, device.user, stream,
                                                    answer.filename, description=answer.description)
        added += int(created)
    return added


