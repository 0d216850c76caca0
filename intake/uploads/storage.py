"""A partial upload's bytes at rest: a sequence of sealed records, never plaintext.

Each PATCH's bytes are sealed in records of at most 64 KiB (AES-256-GCM under the report's data
key, the key the finished attachment is sealed with), each bound to its upload and to the offset
of its first byte, so records cannot be reordered, repeated or moved between uploads. A record is
`length (4 bytes, big-endian) || crypto.seal(...)`. The database row says how many bytes count
(`upload_offset`) and how long the file is that holds them (`stored_bytes`): a request that died
after writing is cut back to that length by the next one, so a crash never leaves a record the
row does not vouch for, and a file shortened on disk is noticed at completion.

Writers of one upload take an exclusive `flock` on its file, so two PATCHes never interleave; the
lock goes with the process if it dies.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .. import crypto
from ..media import upload_dir

RECORD_BYTES = 64 * 1024
_LENGTH = struct.Struct(">I")


class UploadBusy(RuntimeError):
    """Another request is writing to this upload right now."""


class PartialBroken(ValueError):
    """The partial file does not hold what its row says: altered, truncated or moved."""


def partial_path(config: dict[str, Any], storage_name: str) -> Path:
    folder = upload_dir(config) / "partial"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / storage_name


def record_aad(public_id: str, offset: int) -> bytes:
    return f"intake:upload:{public_id}:{offset}".encode()


@dataclass
class Appended:
    """What one PATCH added: the bytes that now count, the sealed file's new length, the body's
    SHA-256 and whether the client went away before the end of its body."""

    received: int
    stored_bytes: int
    digest: bytes
    disconnected: bool


class PartialFile:
    """The locked partial file of one upload, for one request (a context manager)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1

    def __enter__(self) -> PartialFile:
        # Made when the upload was created; a file that is gone (terminated, swept) is not made again.
        self._fd = os.open(self.path, os.O_RDWR)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise UploadBusy("another request is writing to this upload") from None
        return self

    def __exit__(self, *_exc: object) -> None:
        os.close(self._fd)  # releases the lock

    def append(self, stream: IO[bytes], limit: int, key: bytes, public_id: str, offset: int,
               stored_bytes: int) -> Appended:
        """Seal up to `limit` bytes of `stream` after the `stored_bytes` the row vouches for.

        Reads in bounded pieces, never the whole body; a client that goes away mid-body leaves
        what arrived, in whole records (`disconnected`).
        """
        os.ftruncate(self._fd, stored_bytes)
        os.lseek(self._fd, stored_bytes, os.SEEK_SET)
        digest = hashlib.sha256()
        received = 0
        written = stored_bytes
        disconnected = False
        while received < limit:
            piece = bytearray()
            try:
                while len(piece) < min(RECORD_BYTES, limit - received):
                    more = stream.read(min(RECORD_BYTES, limit - received) - len(piece))
                    if not more:
                        disconnected = True
                        break
                    piece += more
            except Exception as exc:  # werkzeug's ClientDisconnected, gunicorn's NoMoreData, a reset
                if not _is_disconnect(exc):
                    raise
                disconnected = True
            if piece:
                sealed = crypto.seal(key, bytes(piece), record_aad(public_id, offset + received))
                written += os.write(self._fd, _LENGTH.pack(len(sealed)) + sealed)
                digest.update(piece)
                received += len(piece)
            if disconnected:
                break
        os.fsync(self._fd)
        return Appended(received, written, digest.digest(), disconnected)

    def cut_back(self, stored_bytes: int) -> None:
        """Forget what this request appended (a checksum that did not match)."""
        os.ftruncate(self._fd, stored_bytes)
        os.fsync(self._fd)


def _is_disconnect(exc: BaseException) -> bool:
    from werkzeug.exceptions import ClientDisconnected

    return isinstance(exc, ClientDisconnected | ConnectionError | TimeoutError) or (
        isinstance(exc, OSError) and type(exc).__name__ in ("NoMoreData", "UnreadableResponse"))


def read_partial(path: Path, key: bytes, public_id: str, length: int, stored_bytes: int) -> Iterator[bytes]:
    """The plaintext of a finished upload's records, each checked before it is released; raises
    PartialBroken unless they hold exactly `length` bytes in `stored_bytes` of file."""
    offset = 0
    with open(path, "rb") as handle:
        position = 0
        while position < stored_bytes:
            head = handle.read(_LENGTH.size)
            if len(head) != _LENGTH.size:
                raise PartialBroken("the partial file is shorter than its row says")
            (size,) = _LENGTH.unpack(head)
            sealed = handle.read(size)
            if len(sealed) != size:
                raise PartialBroken("the partial file is shorter than its row says")
            try:
                plain = crypto.unseal(key, sealed, record_aad(public_id, offset))
            except crypto.SealBroken:
                raise PartialBroken("a record of the partial file does not open: altered or moved") from None
            position += _LENGTH.size + size
            offset += len(plain)
            yield plain
    if offset != length:
        raise PartialBroken("the partial file does not hold the whole upload")


class RecordReader:
    """A finished upload's plaintext as a read-only stream (what `media.store_upload` reads)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out
