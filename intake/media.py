"""Uploaded files: sniffed, size-limited, sealed with their report's data key under random names
outside any static folder, and inspected by the worker (hash check, type check, embedded metadata)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import secrets
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import filetype
from flask import Request
from flask_babel import gettext as _
from flask_babel import ngettext
from PIL import ExifTags, Image, UnidentifiedImageError
from sqlalchemy import ColumnElement, and_, event, exists, or_, select
from sqlalchemy.orm import Session

from . import crypto
from .enums import AttachmentStatus, ReportState
from .models import Attachment, DataKey, Report, User, utcnow

CHUNK = 1024 * 1024
SNIFF_BYTES = 8192
# Pictures with more pixels than this are refused at upload (by the size their header declares) and
# never decoded: a phone's 48- or 50-megapixel mode fits, an 8000×8000 PNG of 200 KB (a
# decompression bomb: 1.2 GB to decode) does not. Well below Pillow's own limit (89 megapixels),
# which we set to this too: Pillow refuses images above twice it and warns above it; we refuse both.
MAX_IMAGE_PIXELS = 50_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

# Media types accepted, by what the bytes are, not by name or declared type.
ALLOWED_TYPES: dict[str, str] = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WebP",
    "image/heic": "HEIC",
    "image/heif": "HEIC",
    "video/mp4": "MP4",
    "video/quicktime": "MOV",
    "audio/mp4": "M4A",
    "audio/m4a": "M4A",
    "audio/x-m4a": "M4A",
    "audio/ogg": "OGG",
    "video/ogg": "OGG",
    "audio/mpeg": "MP3",
    "application/pdf": "PDF",
}
IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp"}


def _files_after_commit(session: Session) -> None:
    """New files are now recorded; files whose rows were deleted go from the disk too."""
    session.info.pop("new_upload_paths", None)
    for path in session.info.pop("removed_upload_paths", []):
        overwrite_and_unlink(Path(path))


def overwrite_and_unlink(path: Path) -> None:
    """Overwrite a removed file's bytes in place with zeros, then unlink it.

    The file is sealed and its key is destroyed with it; overwriting means the ciphertext does not
    linger in free blocks either. On a journaling or copy-on-write filesystem (btrfs, ZFS, some
    ext4 modes), in snapshots and behind an SSD's wear levelling the old blocks may survive: there
    the erased key, not the overwrite, is what makes them unreadable.
    """
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        return
    try:
        remaining = os.fstat(fd).st_size
        zeros = bytes(min(CHUNK, remaining))
        while remaining > 0:
            remaining -= os.write(fd, zeros[:remaining])
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink(missing_ok=True)


def _files_after_rollback(session: Session) -> None:
    """The transaction did not commit: its new files go, the files it meant to remove stay."""
    for path in session.info.pop("new_upload_paths", []):
        Path(path).unlink(missing_ok=True)
    session.info.pop("removed_upload_paths", None)


event.listen(Session, "after_commit", _files_after_commit)
event.listen(Session, "after_rollback", _files_after_rollback)


class UploadRefused(ValueError):
    """An upload that is not stored; the message names the file and the reason."""

    def __init__(self, message: str, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int
    max_report_bytes: int
    max_attachments: int


def sniff(head: bytes) -> str | None:
    """The media type the bytes say they are, if it is one we accept (a picture whose header declares
    more than MAX_IMAGE_PIXELS is not: `describe_refusal` says why)."""
    media_type = _sniff_type(head)
    if media_type is not None and too_many_pixels(head):
        return None
    return media_type


def _sniff_type(head: bytes) -> str | None:
    kind = filetype.guess(head)
    if kind is None:
        # MP3 files without an ID3 tag start with an MPEG frame sync, which filetype misses.
        if len(head) > 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] & 0x06):
            return "audio/mpeg"
        return None
    return kind.mime if kind.mime in ALLOWED_TYPES else None


def image_dimensions(head: bytes) -> tuple[int, int] | None:
    """Width and height a PNG, JPEG, WebP or HEIC declares in its first bytes, read without decoding
    anything; None when they are not there (another type, or a JPEG whose size comes later)."""
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR" and len(head) >= 24:
        width, height = struct.unpack(">II", head[16:24])
        return width, height
    if head[:2] == b"\xff\xd8":
        return _jpeg_dimensions(head)
    if head[4:8] == b"ftyp" and b"ispe" in head:
        return _heif_dimensions(head)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP" and len(head) >= 30:
        chunk = head[12:16]
        if chunk == b"VP8X":
            return 1 + int.from_bytes(head[24:27], "little"), 1 + int.from_bytes(head[27:30], "little")
        if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
            return (int.from_bytes(head[26:28], "little") & 0x3FFF, int.from_bytes(head[28:30], "little") & 0x3FFF)
        if chunk == b"VP8L" and head[20] == 0x2F:
            bits = int.from_bytes(head[21:25], "little")
            return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    return None


# Start-of-frame markers: every JPEG coding process (baseline, progressive, lossless, arithmetic).
_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def _jpeg_dimensions(head: bytes) -> tuple[int, int] | None:
    pos = 2
    while pos + 4 <= len(head):
        if head[pos] != 0xFF:
            return None
        marker = head[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            pos += 2
            continue
        if marker == 0xDA:  # image data before any frame header: not a picture we can size
            return None
        (length,) = struct.unpack(">H", head[pos + 2:pos + 4])
        if marker in _JPEG_SOF:
            if pos + 9 > len(head):
                return None
            height, width = struct.unpack(">HH", head[pos + 5:pos + 9])
            return width, height
        pos += 2 + length
    return None


def _heif_dimensions(head: bytes) -> tuple[int, int] | None:
    """HEIC/HEIF: the largest image spatial extent ("ispe") property in the first bytes (the whole
    picture's, not a tile's or the thumbnail's; coded sizes may be padded by a few pixels)."""
    sizes: list[tuple[int, int]] = []
    at = head.find(b"ispe")
    while at != -1 and at + 16 <= len(head):
        width, height = struct.unpack(">II", head[at + 8:at + 16])
        sizes.append((width, height))
        at = head.find(b"ispe", at + 4)
    return max(sizes, key=lambda size: size[0] * size[1]) if sizes else None


def too_many_pixels(head: bytes) -> tuple[int, int] | None:
    """The declared size of a picture above MAX_IMAGE_PIXELS, else None."""
    size = image_dimensions(head)
    if size is not None and size[0] * size[1] > MAX_IMAGE_PIXELS:
        return size
    return None


def describe_refusal(head: bytes) -> str:
    """Why bytes were refused, in words a field worker understands."""
    if (size := too_many_pixels(head)) is not None and _sniff_type(head) is not None:
        return _("it is a picture of %(width)s×%(height)s pixels, more than the %(limit)d million pixels accepted "
                 "(so many pixels in so few bytes can stop the server); send it at a lower resolution",
                 width=f"{size[0]:,}", height=f"{size[1]:,}", limit=MAX_IMAGE_PIXELS // 1_000_000)
    kind = filetype.guess(head)
    lowered = head[:512].lstrip().lower()
    if head[:2] == b"MZ" or head[:4] == b"\x7fELF" or head[:4] in (b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe"):
        return _("it is a program, not a photo, video, audio recording or PDF")
    if lowered.startswith((b"<svg", b"<?xml", b"<!doctype", b"<html")) or b"<svg" in lowered:
        return _("it is a web page or SVG drawing, which could carry scripts")
    if kind is not None and kind.extension in {"zip", "rar", "7z", "gz", "tar", "bz2", "xz"}:
        return _("it is an archive; send the photos or documents inside it one by one")
    return _("its content is not a photo (JPEG, PNG, WebP, HEIC), video (MP4, MOV), "
             "audio (M4A, OGG, MP3) or PDF, whatever its name says")


def megabytes(size: int) -> str:
    """A byte limit as people read it: 25, 0.5."""
    return f"{round(size / (1024 * 1024), 1):g}"


def upload_dir(config: dict[str, Any]) -> Path:
    path = Path(config["UPLOAD_PATH"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def stored_path(config: dict[str, Any], attachment: Attachment) -> Path:
    return upload_dir(config) / attachment.storage_name[:2] / attachment.storage_name


def derivative_path(config: dict[str, Any], attachment: Attachment) -> Path:
    name = attachment.derivative_storage_name or ""
    return upload_dir(config) / name[:2] / name


def file_aad(storage_name: str) -> bytes:
    """Binds a sealed file to its attachment: files cannot be swapped between rows unnoticed."""
    return f"intake:file:{storage_name}".encode()


def read_original(config: dict[str, Any], attachment: Attachment) -> Iterator[bytes]:
    """The original file's bytes, chunk by chunk, each checked before it is released.

    Raises FileNotFoundError, crypto.SealBroken or crypto.DataKeyUnavailable (erased).
    """
    key = _file_key(attachment)
    with open(stored_path(config, attachment), "rb") as handle:
        yield from crypto.open_sealed_file(handle, key, file_aad(attachment.storage_name))


# Parts up to this size are parsed in memory (as Werkzeug does); larger ones go to a sealed spool.
IN_MEMORY_UPLOAD_BYTES = 500 * 1024


class UploadRequest(Request):
    """Flask's request, with uploads held in memory or in a sealed spool while the body is parsed.

    Werkzeug spools every file part above 500 KB to a plain temporary file; here a part goes to
    memory when the whole request is small and otherwise to a `crypto.SealedSpool` (a temporary file
    sealed under a key that lives only in the process), so no uploaded byte reaches a disk in the
    clear, for the form and the API alike. `MAX_CONTENT_LENGTH` bounds either.
    """

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> IO[bytes]:
        if total_content_length is not None and total_content_length <= IN_MEMORY_UPLOAD_BYTES:
            return io.BytesIO()
        return crypto.SealedSpool()  # type: ignore[return-value]


def _file_key(attachment: Attachment) -> bytes:
    """The key of an attachment's files, released only if its row is where it was sealed: the row's
    document opens bound to its report and uploader, and its key is its report's (a file row moved
    to another report in the database raises crypto.SealBroken)."""
    key = attachment.data_key_for_sealing().plain()
    attachment.sealed_document()
    return key


def _display_name(filename: str | None) -> str:
    return os.path.basename(filename or "").strip()[:255] or _("(unnamed file)")


def store_upload(
    session: Session,
    config: dict[str, Any],
    stream: IO[bytes],
    filename: str | None,
    uploader: User,
    *,
    report: Report | None = None,
    stash_key: str | None = None,
    captured_at: dt.datetime | None = None,
    description: str | None = None,
) -> tuple[Attachment, bool]:
    """Store one uploaded file for a report (or for a form's stash). Returns (attachment, created).

    The file is streamed to disk while it is hashed and measured; it is refused, and nothing
    remains of it, if it is too big, not of an allowed type, or would push the report past its
    limits. The same bytes sent twice are one attachment.
    """
    from .web.numbers import megabytes as shown_megabytes  # the limit as the reader's language writes it

    limits = Limits(config["MAX_FILE_BYTES"], config["MAX_REPORT_BYTES"], config["MAX_ATTACHMENTS"])
    name = _display_name(filename)
    siblings = _siblings(session, uploader, report, stash_key)
    data_key = _data_key_for(report, siblings)
    storage_name = secrets.token_hex(16)
    target_dir = upload_dir(config) / storage_name[:2]
    target_dir.mkdir(exist_ok=True)
    target = target_dir / storage_name
    partial = target.with_suffix(".part")
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        with open(partial, "xb") as out:
            os.chmod(partial, 0o600)
            sealer = crypto.SealedFileWriter(out, data_key.plain(), file_aad(storage_name))
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > limits.max_file_bytes:
                    raise UploadRefused(
                        _("%(name)s was not accepted: it is larger than %(limit)s MB.",
                          name=name, limit=shown_megabytes(limits.max_file_bytes)),
                        too_large=True,
                    )
                if len(head) < SNIFF_BYTES:
                    head += chunk[: SNIFF_BYTES - len(head)]
                digest.update(chunk)
                sealer.write(chunk)
            sealer.close()
        if size == 0:
            raise UploadRefused(_("%(name)s was not accepted: the file is empty.", name=name))
        media_type = sniff(head)
        if media_type is None:
            raise UploadRefused(
                _("%(name)s was not accepted: %(reason)s.", name=name, reason=describe_refusal(head))
            )
        sha256 = digest.hexdigest()
        for existing in siblings:
            if existing.sha256 == sha256:
                partial.unlink()
                return existing, False
        if len(siblings) >= limits.max_attachments:
            raise UploadRefused(
                ngettext("%(name)s was not accepted: a report can have at most %(num)d file.",
                         "%(name)s was not accepted: a report can have at most %(num)d files.",
                         limits.max_attachments, name=name)
            )
        if sum(a.size for a in siblings) + size > limits.max_report_bytes:
            raise UploadRefused(
                _("%(name)s was not accepted: all files of one report together may not exceed %(limit)s MB.",
                  name=name, limit=shown_megabytes(limits.max_report_bytes)),
                too_large=True,
            )
        os.replace(partial, target)
        session.info.setdefault("new_upload_paths", []).append(str(target))
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    attachment = Attachment(
        organisation_id=uploader.organisation_id,
        # Through the relationship, so a report already loaded in this session lists its new file.
        report=report,
        uploaded_by_id=uploader.id,
        data_key=data_key,
        stash_key=stash_key if report is None else None,
        storage_name=storage_name,
        original_filename=name,
        media_type=media_type,
        size=size,
        sha256=sha256,
        captured_at=captured_at,
        description=description,
    )
    session.add(attachment)
    session.flush()
    return attachment, True


# A file joins a report only while the report is still being filed or answers a verifier's question
# (needs_info). Being filed: received (the workers have not handed it over yet), or waiting in triage
# within ATTACHMENT_WINDOW_SECONDS of its receipt, before any verifier took it up: a client sends the
# report and then its files, which on a slow link arrive long after the workers are done with the
# report itself. Anywhere else a new file would change evidence a verifier is weighing or has weighed
# (design/workflow.md).
def open_to_files(config: dict[str, Any], state: ReportState, received_at: dt.datetime) -> bool:
    if state in (ReportState.RECEIVED, ReportState.NEEDS_INFO):
        return True
    window = dt.timedelta(seconds=int(config["ATTACHMENT_WINDOW_SECONDS"]))
    return state == ReportState.TRIAGE and utcnow() - received_at <= window


class ClosedToFiles(Exception):
    """The report no longer takes files (see `open_to_files`); nothing was stored."""

    def __init__(self, state: ReportState) -> None:
        super().__init__(state.value)
        self.state = state


class OverUploadQuota(Exception):
    """The file would take its uploader past the bytes they may send in a day; nothing was stored."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


def attach_to_report(
    session: Session,
    config: dict[str, Any],
    report: Report,
    uploader: User,
    stream: IO[bytes],
    filename: str | None,
    *,
    captured_at: dt.datetime | None = None,
    description: str | None = None,
) -> tuple[Attachment, bool]:
    """A file joins a report that is already filed: the one path of the API's attachment endpoint
    and of a finished resumable upload (intake.uploads), so both get the same checks and storage.

    Stored as `store_upload` stores it (sniffed, limited, sealed with the report's key, hashed, the
    same bytes twice are one file). A new file is then checked against the report's state as
    committed now (a verifier may have claimed it while the file was arriving) and the uploader's
    daily bytes, owed its inspection and audited, in the same transaction. The caller commits, then
    dispatches the report when the file is new; on `UploadRefused`, `ClosedToFiles` or
    `OverUploadQuota` it rolls back, and nothing was stored.
    """
    from . import audit, quotas
    from .enums import AuditAction
    from .pipeline import owe_work

    attachment, created = store_upload(session, config, stream, filename, uploader, report=report,
                                       captured_at=captured_at, description=description)
    if created:
        state = session.scalar(select(Report.state).where(Report.id == report.id)) or report.state
        if not open_to_files(config, state, report.received_at):
            raise ClosedToFiles(state)
        over = quotas.count_upload(config, uploader.id, attachment.size)
        if over is not None:
            raise OverUploadQuota(over)
        owe_work(session, report, config["PIPELINE_DEADLINE_SECONDS"])
        # A file arriving after the report itself is part of its record: audited (the transaction's
        # last write) and shown on the timeline.
        audit.record(AuditAction.ATTACHMENT_ADDED.value, actor=uploader, organisation_id=report.organisation_id,
                     target_type="report", target_id=report.public_id,
                     detail={"attachment": attachment.public_id, "state": state.value,
                             "media_type": attachment.media_type, "size": attachment.size})
    return attachment, created


def _data_key_for(report: Report | None, siblings: list[Attachment]) -> DataKey:
    """A report's files are sealed with its data key; a form's stash gets one the report will adopt."""
    if report is not None:
        return report.data_key_for_sealing()
    if siblings:
        return siblings[0].data_key
    return DataKey.create()


def read_derivative(config: dict[str, Any], attachment: Attachment) -> Iterator[bytes]:
    """The worker-made copy's bytes, chunk by chunk (see `read_original`)."""
    if attachment.derivative_storage_name is None:
        raise FileNotFoundError("no derivative")
    key = _file_key(attachment)
    with open(derivative_path(config, attachment), "rb") as handle:
        yield from crypto.open_sealed_file(handle, key, file_aad(attachment.derivative_storage_name))


def private_workdir() -> str | None:
    """Where a worker may briefly hold a decrypted file: memory-backed when the system has it, so a
    plain copy never reaches a disk; owner-only either way (tempfile makes its folders 0700)."""
    shm = Path("/dev/shm")  # noqa: S108  (a private 0700 folder is made inside it)
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


class PixelBudget:
    """The pixels one pipeline run may decode for the copies of a report's pictures
    (REPORT_MAX_IMAGE_PIXELS): with the per-picture limits it keeps a run inside the task's time
    limit, so twenty large pictures do not run past it and get retried again and again."""

    def __init__(self, pixels: int) -> None:
        self.remaining = pixels

    def take(self, pixels: int) -> bool:
        if pixels > self.remaining:
            return False
        self.remaining -= pixels
        return True


def _declared_pixels(path: Path, media_type: str) -> int:
    """A picture's pixels by its header (nothing decoded); 0 for other files or an unreadable header."""
    if not media_type.startswith("image/"):
        return 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return int(image.width * image.height)
    except Exception:  # the derivative function says what is wrong with it
        return 0


def media_owed(report_id: Any) -> ColumnElement[bool]:
    """SQL: the report (an id, or a column holding one) has a file still to be checked or cleaned,
    work for the media queue (intake.dispatch)."""
    return exists().where(
        Attachment.report_id == report_id,
        or_(Attachment.status == AttachmentStatus.STORED,
            and_(Attachment.status == AttachmentStatus.INSPECTED, Attachment.derived_at.is_(None))),
    )


def media_work_owed(report_id: int) -> Any:
    """A query answering `media_owed` for one report."""
    return select(media_owed(report_id))


def make_derivative_of(session: Session, config: dict[str, Any], attachment: Attachment,
                       budget: PixelBudget | None = None) -> None:
    """Make and store the shown-by-default copy of an inspected attachment. Idempotent.

    The original is decrypted into a private temporary folder, sanitised by intake.derivatives, and
    the result sealed with the report's key like the original; both plain files are gone afterwards.
    A refusal (too many pixels, the run's `budget` used up, undecodable) is final: the file stays
    "original only" with a note saying why, and is not tried again.
    """
    import tempfile

    from .derivatives import DerivativeRefused, make_derivative

    if attachment.status != AttachmentStatus.INSPECTED or attachment.derived_at is not None:
        return
    with tempfile.TemporaryDirectory(prefix="intake-", dir=private_workdir()) as folder:
        work = Path(folder)
        source = work / "original"
        with open(source, "xb") as out:
            for chunk in read_original(config, attachment):
                out.write(chunk)
        pixels = _declared_pixels(source, attachment.media_type)
        if budget is not None and pixels and not budget.take(pixels):
            attachment.derivative_note = (f"original only: the report's pictures together have more than the "
                                          f"{int(config['REPORT_MAX_IMAGE_PIXELS']):,} pixels one run may "
                                          "clean")[:200]
            attachment.derived_at = utcnow()
            return
        try:
            derivative = make_derivative(source, attachment.media_type, work, max_pixels=MAX_IMAGE_PIXELS,
                                         max_output_pixels=int(config["DERIVATIVE_MAX_PIXELS"]))
        except DerivativeRefused as exc:
            attachment.derivative_note = f"original only: {exc}"[:200]
            attachment.derived_at = utcnow()
            return
        if derivative is None:
            attachment.derivative_note = "original only: ffmpeg is not installed on the worker"
            attachment.derived_at = utcnow()
            return
        storage_name = secrets.token_hex(16)
        target = upload_dir(config) / storage_name[:2] / storage_name
        target.parent.mkdir(exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        session.info.setdefault("new_upload_paths", []).append(str(target))
        with os.fdopen(fd, "wb") as out, open(derivative.path, "rb") as plain:
            sealer = crypto.SealedFileWriter(out, attachment.data_key.plain(), file_aad(storage_name))
            while chunk := plain.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                sealer.write(chunk)
            sealer.close()
    attachment.derivative_storage_name = storage_name
    attachment.derivative_media_type = derivative.media_type
    attachment.derivative_size = size
    attachment.derivative_sha256 = digest.hexdigest()
    attachment.faces_covered = derivative.faces_covered
    attachment.derivative_note = derivative.note
    attachment.derived_at = utcnow()


def _siblings(session: Session, uploader: User, report: Report | None, stash_key: str | None) -> list[Attachment]:
    if report is not None:
        return list(session.scalars(select(Attachment).where(Attachment.report_id == report.id)))
    return list(
        session.scalars(
            select(Attachment).where(
                Attachment.uploaded_by_id == uploader.id,
                Attachment.stash_key == stash_key,
                Attachment.report_id.is_(None),
            )
        )
    )


def discard_file(session: Session, config: dict[str, Any], attachment: Attachment) -> None:
    """Remove an upload's stored file (and its derivative) once the transaction commits (the row stays)."""
    removed = session.info.setdefault("removed_upload_paths", [])
    removed.append(str(stored_path(config, attachment)))
    if attachment.derivative_storage_name:
        removed.append(str(derivative_path(config, attachment)))


def discard_upload(session: Session, config: dict[str, Any], attachment: Attachment) -> None:
    """Remove an upload; its file goes once the transaction commits."""
    discard_file(session, config, attachment)
    session.delete(attachment)


def settle_stash(session: Session, config: dict[str, Any], report: Report, reporter: User, stash_key: str) -> int:
    """Attach the uploads kept for this form to its report, once each. Returns how many were attached.

    Two presses of "send" run side by side and may each store the same photo: a stashed file the
    report already has (same SHA-256) is removed instead of attached twice.
    """
    from .reports import stashed_uploads

    have = {a.sha256 for a in report.attachments}
    attached = 0
    for attachment in stashed_uploads(session, reporter, stash_key):
        if attachment.sha256 in have:
            discard_upload(session, config, attachment)
            continue
        attachment.rebind(report)
        have.add(attachment.sha256)
        attached += 1
    return attached


def inspect_attachment(session: Session, config: dict[str, Any], attachment: Attachment) -> None:
    """Check a stored file against what was recorded on receipt and read its embedded metadata.

    Idempotent: an attachment already checked is left as it is.
    """
    if attachment.status != AttachmentStatus.STORED:
        return
    is_image = attachment.media_type in IMAGE_TYPES
    digest = hashlib.sha256()
    head = b""
    # Images are decoded from memory (they are at most MAX_FILE_BYTES): no plaintext copy on disk.
    image_bytes = io.BytesIO() if is_image else None
    try:
        for chunk in read_original(config, attachment):
            digest.update(chunk)
            if len(head) < SNIFF_BYTES:
                head += chunk[: SNIFF_BYTES - len(head)]
            if image_bytes is not None:
                image_bytes.write(chunk)
    except FileNotFoundError:
        _quarantine(attachment, "file missing from storage")
        return
    except crypto.SealBroken:
        _quarantine(attachment, "stored file does not open with its key: altered or truncated")
        return
    if digest.hexdigest() != attachment.sha256:
        _quarantine(attachment, "SHA-256 differs from the one taken on receipt")
        return
    if (size := too_many_pixels(head)) is not None:
        # Stored before uploads were refused for it: never decoded.
        _quarantine(attachment, f"picture of {size[0]}×{size[1]} pixels, more than the {MAX_IMAGE_PIXELS:,} "
                                "allowed (decompression bomb guard): not decoded")
        return
    media_type = sniff(head)
    if media_type != attachment.media_type:
        _quarantine(attachment, "content type differs from the one detected on receipt")
        return
    metadata: dict[str, Any] = {}
    if image_bytes is not None:
        image_bytes.seek(0)
        try:
            metadata = read_image_metadata(image_bytes)
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError, Image.DecompressionBombWarning):
            _quarantine(attachment, "image cannot be decoded safely")
            return
    attachment.embedded_metadata = metadata
    attachment.status = AttachmentStatus.INSPECTED
    attachment.status_reason = None
    attachment.inspected_at = utcnow()


def _quarantine(attachment: Attachment, reason: str) -> None:
    attachment.status = AttachmentStatus.QUARANTINED
    attachment.status_reason = reason
    attachment.inspected_at = utcnow()


def read_image_metadata(path: Path | IO[bytes]) -> dict[str, Any]:
    """Camera, capture time and GPS position recorded in an image, after a full decode."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as image:
            image.load()  # decode fully: a truncated or booby-trapped file fails here, not later
            exif = image.getexif()
            width, height = image.size
    result: dict[str, Any] = {"width": width, "height": height}
    base = {ExifTags.TAGS.get(k, str(k)): v for k, v in exif.items()}
    sub = {ExifTags.TAGS.get(k, str(k)): v for k, v in exif.get_ifd(ExifTags.IFD.Exif).items()}
    gps = {ExifTags.GPSTAGS.get(k, str(k)): v for k, v in exif.get_ifd(ExifTags.IFD.GPSInfo).items()}
    for key in ("Make", "Model", "Software"):
        if isinstance(base.get(key), str) and base[key].strip():
            result[key.lower()] = base[key].strip("\x00 ")
    taken = sub.get("DateTimeOriginal") or base.get("DateTime")
    if isinstance(taken, str):
        try:
            parsed = dt.datetime.strptime(taken.strip("\x00 "), "%Y:%m:%d %H:%M:%S")
            result["taken_at"] = parsed.isoformat()
            if isinstance(sub.get("OffsetTimeOriginal"), str):
                result["taken_at_offset"] = sub["OffsetTimeOriginal"]
        except ValueError:
            pass
    position = _gps_position(gps)
    if position is not None:
        result["gps_latitude"], result["gps_longitude"] = position
        if "GPSAltitude" in gps:
            result["gps_altitude"] = round(float(gps["GPSAltitude"]), 1)
    return result


def _gps_position(gps: dict[str, Any]) -> tuple[float, float] | None:
    try:
        lat = _dms(gps["GPSLatitude"]) * (-1 if gps.get("GPSLatitudeRef") == "S" else 1)
        lon = _dms(gps["GPSLongitude"]) * (-1 if gps.get("GPSLongitudeRef") == "W" else 1)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return round(lat, 6), round(lon, 6)


def _dms(parts: Any) -> float:
    degrees, minutes, seconds = (Fraction(float(p)) for p in parts)
    return float(degrees + minutes / 60 + seconds / 3600)
