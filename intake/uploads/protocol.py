"""What each tus request does to an upload, independent of HTTP (see intake.web.uploads).

Design choices:
- The offset lives in the database row and moves only after the sealed bytes are on disk (fsync),
  in a conditional UPDATE; a server restart finds the upload where the row says.
- The whole file's SHA-256 is recomputed at completion from the sealed records, in the same pass
  that stores the attachment (`media.store_upload` hashes what it seals). Python's hashlib state
  cannot be saved, and a saved mid-state of a partial file would be plaintext-derived data on the
  server; one more decryption pass of at most MAX_FILE_BYTES costs milliseconds.
- An upload is for a report already filed, and its partial bytes are sealed with that report's
  data key: erasing the report's key makes its partial uploads unreadable too.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import re
import secrets
from dataclasses import dataclass
from typing import IO, Any

from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..media import (
    SNIFF_BYTES,
    ClosedToFiles,
    OverUploadQuota,
    UploadRefused,
    _display_name,
    attach_to_report,
    describe_refusal,
    megabytes,
    open_to_files,
    sniff,
)
from ..models import Attachment, Report, ResumableUpload, User, utcnow
from ..reports import own_report
from ..schema import SUBMISSION_ID_RE, unstorable_text
from ..submissions import journal_entry
from .storage import PartialBroken, PartialFile, RecordReader, partial_path, read_partial

log = logging.getLogger(__name__)

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,termination,checksum,expiration"
CHECKSUM_ALGORITHMS = "sha256"
DIGITS_RE = re.compile(r"[0-9]{1,18}")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


CLOSED_TO_FILES = ("Files can be added to a report while it is being filed (until a verifier takes it up) or while "
                   "it answers a verifier's question; this report is no longer open to new files.")


class TusError(Exception):
    """A request refused, as the status and message that say why."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


def parse_metadata(header: str) -> dict[str, str]:
    """`Upload-Metadata`: comma-separated `key base64value` pairs (a value may be absent)."""
    values: dict[str, str] = {}
    for pair in header.split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, encoded = pair.partition(" ")
        if not key or key in values:
            raise TusError(400, "bad_metadata", "Upload-Metadata has an empty or repeated key.")
        try:
            values[key] = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise TusError(400, "bad_metadata", f"Upload-Metadata's value of {key!r} is not base64 of UTF-8 text.") \
                from None
    return values


def parse_checksum(header: str | None) -> bytes | None:
    """`Upload-Checksum: sha256 <base64>`, as the 32 bytes expected; None when absent."""
    if header is None:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm.lower() != "sha256":
        raise TusError(400, "checksum_algorithm", "Only sha256 checksums are supported (Tus-Checksum-Algorithm).")
    try:
        expected = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        expected = b""
    if len(expected) != 32:
        raise TusError(400, "bad_checksum", "Upload-Checksum is not a base64 SHA-256.")
    return expected


def find_report(session: Session, user: User, reference: str) -> Report | None:
    """The report an upload is for: by its public id, or by the submission id the web form sent
    it with; only the user's own (as the attachment endpoint)."""
    reference = reference.strip()
    if UUID_RE.fullmatch(reference):
        report = own_report(session, user, reference)
        if report is not None:
            return report
    # The web form's submission ids are UUIDs too: a reference that is no report id may be one.
    if SUBMISSION_ID_RE.fullmatch(reference):
        entry = journal_entry(session, user, reference)
        if entry is not None:
            return own_report(session, user, entry.public_id)
    return None


def create(session: Session, config: dict[str, Any], user: User, length_header: str | None,
           metadata_header: str) -> ResumableUpload:
    """A new upload of `Upload-Length` bytes for the report named in its metadata. The caller commits."""
    if length_header is None:
        raise TusError(400, "length_required", "Give Upload-Length (Upload-Defer-Length is not supported).")
    if not DIGITS_RE.fullmatch(length_header):
        raise TusError(400, "bad_length", "Upload-Length must be a non-negative integer.")
    length = int(length_header)
    metadata = parse_metadata(metadata_header)
    report = find_report(session, user, metadata.get("report", ""))
    if report is None:
        raise TusError(404, "not_found", "No such report, or not yours: name it in Upload-Metadata `report`.")
    if not open_to_files(config, report.state, report.received_at):
        raise TusError(409, "report_closed_to_files", CLOSED_TO_FILES)
    from .. import quotas

    room, _waits = quotas.upload_room(config, user.id)
    if room is not None and length > room:
        raise TusError(429, "too_many_requests", "This account has uploaded as many bytes of files as it may "
                                                 "in one day; try again tomorrow.")
    if length == 0:
        raise TusError(422, "upload_refused", "The file is empty.")
    max_file = int(config["MAX_FILE_BYTES"])
    if length > max_file:
        raise TusError(413, "upload_refused", f"The file is larger than {megabytes(max_file)} MB.")
    stored = session.scalar(select(func.coalesce(func.sum(Attachment.size), 0))
                            .where(Attachment.report_id == report.id)) or 0
    max_report = int(config["MAX_REPORT_BYTES"])
    if stored + length > max_report:
        raise TusError(413, "upload_refused",
                       f"All files of one report together may not exceed {megabytes(max_report)} MB.")
    now = utcnow()
    # Files stored and uploads under way together stay within the files a report may have: an
    # upload that cannot be stored at its end is refused before its first byte.
    files = session.scalar(select(func.count(Attachment.id)).where(Attachment.report_id == report.id)) or 0
    under_way = session.scalar(select(func.count(ResumableUpload.id)).where(
        ResumableUpload.report_id == report.id, ResumableUpload.status == "open",
        ResumableUpload.expires_at > now)) or 0
    if files + under_way >= int(config["MAX_ATTACHMENTS"]):
        raise TusError(422, "upload_refused",
                       f"A report can have at most {config['MAX_ATTACHMENTS']} files, counting uploads under way "
                       "(end an abandoned one with DELETE).")
    upload = ResumableUpload(
        organisation_id=user.organisation_id, uploaded_by_id=user.id, report=report, length=length,
        upload_offset=0, stored_bytes=0, storage_name=secrets.token_hex(16), status="open", created_at=now,
        expires_at=now + dt.timedelta(seconds=int(config["UPLOAD_EXPIRY_SECONDS"])),
    )
    upload.original_filename = (metadata.get("filename") or "").strip()[:255] or None
    if unstorable_text(metadata.get("description") or ""):
        raise TusError(400, "bad_metadata", "Upload-Metadata `description` holds a NUL character.")
    upload.description = (metadata.get("description") or "").strip()[:2000] or None
    captured = (metadata.get("captured_at") or "").strip()
    if captured:
        try:
            upload.captured_at_text = dt.datetime.fromisoformat(captured).replace(tzinfo=None).isoformat()
        except ValueError:
            raise TusError(400, "bad_metadata", "Upload-Metadata `captured_at` is not an ISO 8601 date and time.") \
                from None
    session.add(upload)
    session.flush()
    partial_path(config, upload.storage_name).touch(mode=0o600)
    return upload


def find(session: Session, user: User, public_id: str) -> ResumableUpload | None:
    """The user's own upload (another user's, or another organisation's, is not found)."""
    return session.scalar(select(ResumableUpload).where(
        ResumableUpload.public_id == public_id, ResumableUpload.uploaded_by_id == user.id,
        ResumableUpload.organisation_id == user.organisation_id))


def expired(upload: ResumableUpload, now: dt.datetime | None = None) -> bool:
    return upload.status == "open" and upload.expires_at <= (now or utcnow())


def check_usable(upload: ResumableUpload) -> None:
    if upload.status in ("terminated", "refused") or expired(upload):
        raise TusError(410, "gone", "This upload expired or was ended; create a new one.")


@dataclass
class Patched:
    offset: int
    attachment: Attachment | None  # set when this request finished the upload
    created: bool


def patch(session: Session, config: dict[str, Any], user: User, upload: ResumableUpload, offset_header: str | None,
          content_type: str, content_length: int | None, checksum_header: str | None,
          stream: IO[bytes]) -> Patched:
    """Append a PATCH body at `Upload-Offset`; the last byte completes the upload. Commits."""
    check_usable(upload)
    if content_type.split(";")[0].strip().lower() != "application/offset+octet-stream":
        raise TusError(415, "unsupported_media_type", "Send the bytes as application/offset+octet-stream.")
    if offset_header is None or not DIGITS_RE.fullmatch(offset_header):
        raise TusError(400, "bad_offset", "Give Upload-Offset, a non-negative integer.")
    expected = parse_checksum(checksum_header)
    if int(offset_header) != upload.upload_offset:
        raise TusError(409, "offset_mismatch", f"The upload is at offset {upload.upload_offset}; resume from there.")
    remaining = upload.length - upload.upload_offset
    if content_length is not None and content_length > remaining:
        raise TusError(413, "too_long", f"Only {remaining} more bytes belong to this upload.")
    if upload.status == "complete":
        return Patched(upload.upload_offset, upload.attachment, False)
    key = upload.data_key_for_sealing().plain()
    offset = upload.upload_offset
    path = partial_path(config, upload.storage_name)
    # No transaction stays open while a slow client trickles its body in.
    session.commit()
    try:
        with PartialFile(path) as partial:
            return _append_and_complete(session, config, user, upload, partial, stream, expected, key, offset,
                                        content_length)
    except FileNotFoundError:
        session.rollback()
        raise TusError(410, "gone", "This upload was ended; create a new one.") from None


def _append_and_complete(session: Session, config: dict[str, Any], user: User, upload: ResumableUpload,
                         partial: PartialFile, stream: IO[bytes], expected: bytes | None, key: bytes,
                         offset: int, content_length: int | None) -> Patched:
    """`patch` once this request holds the upload's file: `offset` is where the client said it is."""
    # The row as it is now that this request holds the file (a request before it may have moved it).
    session.refresh(upload)
    check_usable(upload)
    if upload.upload_offset != offset:
        raise TusError(409, "offset_mismatch", f"The upload is at offset {upload.upload_offset}; resume there.")
    public_id, upload_id, stored_bytes = upload.public_id, upload.id, upload.stored_bytes
    remaining = upload.length - offset
    limit = remaining if content_length is None else content_length
    appended = partial.append(stream, limit, key, public_id, offset, stored_bytes)
    if content_length is None and not appended.disconnected and stream.read(1):
        partial.cut_back(stored_bytes)
        raise TusError(413, "too_long", f"Only {remaining} more bytes belong to this upload.")
    if expected is not None and (appended.disconnected or appended.digest != expected):
        # A body cut short cannot be checked: nothing of it counts.
        partial.cut_back(stored_bytes)
        session.rollback()
        if appended.disconnected:
            raise TusError(400, "incomplete", "The body ended early; nothing of it was kept.")
        raise TusError(460, "checksum_mismatch", "Upload-Checksum does not match the bytes received.")
    new_offset = offset + appended.received
    moved = session.execute(
        update(ResumableUpload).where(ResumableUpload.id == upload_id, ResumableUpload.upload_offset == offset)
        .values(upload_offset=new_offset, stored_bytes=appended.stored_bytes)
        .execution_options(synchronize_session=False))
    session.commit()
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise TusError(409, "offset_mismatch", "The upload moved meanwhile; ask HEAD for its offset.")
    session.refresh(upload)
    if offset < SNIFF_BYTES <= new_offset or offset < new_offset == upload.length:
        _refuse_early(session, config, upload, key, new_offset)
    if new_offset < upload.length:
        return Patched(new_offset, None, False)
    attachment, created = complete(session, config, user, upload, key)
    return Patched(upload.length, attachment, created)


def _refuse_early(session: Session, config: dict[str, Any], upload: ResumableUpload, key: bytes, received: int) -> None:
    """A file whose first bytes are no accepted kind is refused as soon as they are here, not after
    the rest has crawled in over a slow link (completion checks it again, with everything else)."""
    head = b""
    path = partial_path(config, upload.storage_name)
    for chunk in read_partial(path, key, upload.public_id, received, upload.stored_bytes):
        head += chunk[: SNIFF_BYTES - len(head)]
        if len(head) >= SNIFF_BYTES:
            break
    if sniff(head) is None:
        name = _display_name(upload.original_filename)
        reason = describe_refusal(head)
        _end(session, config, upload, "refused")
        raise TusError(422, "upload_refused", _("%(name)s was not accepted: %(reason)s.", name=name, reason=reason))


def complete(session: Session, config: dict[str, Any], user: User, upload: ResumableUpload,
             key: bytes) -> tuple[Attachment, bool]:
    """Store the finished upload as the report's attachment, in one transaction with the pipeline
    owed; the partial file goes once that commits. Commits (and dispatches the report)."""
    from ..dispatch import dispatch_report

    path = partial_path(config, upload.storage_name)
    report = upload.report
    chunks = read_partial(path, key, upload.public_id, upload.length, upload.stored_bytes)
    try:
        captured = dt.datetime.fromisoformat(upload.captured_at_text) if upload.captured_at_text else None
        attachment, created = attach_to_report(session, config, report, user, RecordReader(chunks),  # type: ignore[arg-type]
                                               upload.original_filename, captured_at=captured,
                                               description=upload.description)
    except UploadRefused as exc:
        session.rollback()
        _end(session, config, upload, "refused")
        raise TusError(413 if exc.too_large else 422, "upload_refused", str(exc)) from None
    except ClosedToFiles:
        session.rollback()
        _end(session, config, upload, "refused")
        raise TusError(409, "report_closed_to_files", CLOSED_TO_FILES) from None
    except OverUploadQuota:
        session.rollback()
        _end(session, config, upload, "refused")
        raise TusError(429, "too_many_requests", "This file would take the account past the bytes it may upload "
                                                 "in one day; try again tomorrow.") from None
    except PartialBroken:
        session.rollback()
        _end(session, config, upload, "refused")
        log.warning("resumable upload %s: partial file does not open; refused", upload.public_id)
        raise TusError(422, "upload_broken", "The bytes kept for this upload were damaged; send the file again.") \
            from None
    upload.status = "complete"
    upload.attachment = attachment
    session.info.setdefault("removed_upload_paths", []).append(str(path))
    report_id = report.id
    session.commit()
    if created:
        dispatch_report(report_id)
    return attachment, created


def _end(session: Session, config: dict[str, Any], upload: ResumableUpload, status: str) -> None:
    upload.status = status
    session.info.setdefault("removed_upload_paths", []).append(str(partial_path(config, upload.storage_name)))
    session.commit()


def terminate(session: Session, config: dict[str, Any], upload: ResumableUpload) -> None:
    """The termination extension: the partial bytes go; the upload answers 410 from now on. Commits."""
    if upload.status == "terminated":
        raise TusError(410, "gone", "This upload was ended already.")
    path = partial_path(config, upload.storage_name)
    try:
        with PartialFile(path):
            _end(session, config, upload, "terminated")
    except FileNotFoundError:
        _end(session, config, upload, "terminated")


def sweep_expired(session: Session, config: dict[str, Any], limit: int = 500) -> int:
    """Remove uploads past their expiry, and their partial files (once the deletion commits).
    Returns how many; the caller commits. Nothing personal is logged, only the count."""
    now = utcnow()
    rows = session.scalars(select(ResumableUpload).where(ResumableUpload.expires_at < now).limit(limit)).all()
    for upload in rows:
        path = partial_path(config, upload.storage_name)
        if path.exists():
            session.info.setdefault("removed_upload_paths", []).append(str(path))
        session.delete(upload)
    return len(rows)

