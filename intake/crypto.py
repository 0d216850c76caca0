"""Envelope encryption (design/security.md, invariants 1 and 9).

Every report has its own random 256-bit data key. Its identifying and sensitive fields, and every
original file, are sealed with that key (AES-256-GCM). The data key itself is stored only wrapped
by a master key (Fernet), and the master key is never in the database: it comes from
`INTAKE_MASTER_KEY` or a key file. Erasing a report's wrapped data key makes its originals
unreadable wherever copies of them went.

Master keys form a keyring: the first wraps new data keys, every one of them unwraps. A rotation
puts a new key first, rewraps every data key under it, and only then retires the old one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import os
import secrets
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MASTER_KEY_FILE = "master_key"
VALUE_VERSION = b"\x01"
NONCE_BYTES = 12
TAG_BYTES = 16
# Files are sealed in chunks so that neither writing nor reading needs the whole file in memory,
# and nothing is released before its chunk's tag has been checked.
FILE_MAGIC = b"IKF1"
FILE_CHUNK = 64 * 1024
FILE_PREFIX_BYTES = 7


class MasterKeyError(RuntimeError):
    """No usable master key: the app refuses to start (fail closed)."""


class DataKeyUnavailable(RuntimeError):
    """A data key that no configured master key unwraps, or one that was erased."""


class SealBroken(ValueError):
    """Ciphertext that does not open with its key: altered, truncated or moved."""


def new_master_key() -> str:
    return Fernet.generate_key().decode()


def master_key_id(key: bytes) -> str:
    """A short fingerprint naming a master key in the database and in messages (not the key)."""
    return hashlib.sha256(b"intake master key id\x00" + key).hexdigest()[:16]


def parse_master_keys(text: str) -> tuple[bytes, ...]:
    """Keys separated by commas, spaces or lines; `#` starts a comment. The first is primary."""
    keys: list[bytes] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        for part in line.replace(",", " ").split():
            key = part.strip().encode()
            try:
                if len(base64.urlsafe_b64decode(key)) != 32:
                    raise ValueError
            except (ValueError, binascii.Error):
                raise MasterKeyError(
                    "a master key is not a valid key (32 bytes, URL-safe base64); "
                    "make one with `intake keys new`"
                ) from None
            if key not in keys:
                keys.append(key)
    return tuple(keys)


@dataclass(frozen=True)
class Keyring:
    """The master keys in force: `keys[0]` wraps, all unwrap."""

    keys: tuple[bytes, ...]
    _multi: MultiFernet = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise MasterKeyError("no master key configured")
        object.__setattr__(self, "_multi", MultiFernet([Fernet(k) for k in self.keys]))

    @property
    def primary_id(self) -> str:
        return master_key_id(self.keys[0])

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(master_key_id(k) for k in self.keys)

    def wrap(self, data_key: bytes) -> bytes:
        return self._multi.encrypt(data_key)

    def unwrap(self, wrapped: bytes) -> bytes:
        try:
            return self._multi.decrypt(wrapped)
        except InvalidToken:
            raise DataKeyUnavailable("no configured master key opens this data key") from None

    def index_keys(self) -> tuple[bytes, ...]:
        """Keys for blind indexes (keyed hashes that let the database find a value it cannot read),
        one per master key, the primary's first; derived, so no master key is used twice."""
        return tuple(
            HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"intake blind index v1").derive(
                base64.urlsafe_b64decode(key))
            for key in self.keys
        )

    def blind_index(self, value: str) -> str:
        """The primary key's keyed hash of `value`, as stored."""
        return hmac.new(self.index_keys()[0], value.encode(), hashlib.sha256).hexdigest()

    def blind_index_candidates(self, value: str) -> list[str]:
        """What `value` is stored as under any configured master key (a rotation may be under way)."""
        return [hmac.new(k, value.encode(), hashlib.sha256).hexdigest() for k in self.index_keys()]

    def rewrap(self, wrapped: bytes) -> bytes:
        """The same data key, wrapped under the primary master key."""
        try:
            return self._multi.rotate(wrapped)
        except InvalidToken:
            raise DataKeyUnavailable("no configured master key opens this data key") from None


class KeySource:
    """Where a process gets its keyring: the environment, or a key file it re-reads when changed.

    Re-reading the file lets `intake keys rotate` put a new primary key in place while the web
    app and the workers keep running: each picks it up on its next use of the keyring.
    """

    def __init__(self, config: dict[str, Any], instance_path: Path) -> None:
        self.inline = str(config.get("MASTER_KEY") or "").strip()
        self.path = Path(config.get("MASTER_KEY_FILE") or instance_path / MASTER_KEY_FILE)
        self._stamp: tuple[int, int] | None = None
        self._keyring: Keyring | None = None

    @property
    def from_file(self) -> bool:
        return not self.inline

    def describe(self) -> str:
        return "INTAKE_MASTER_KEY" if self.inline else str(self.path)

    def keyring(self) -> Keyring:
        if self.inline:
            if self._keyring is None:
                self._keyring = Keyring(parse_master_keys(self.inline))
            return self._keyring
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            raise MasterKeyError(
                f"no master key: set INTAKE_MASTER_KEY or INTAKE_MASTER_KEY_FILE, or run `intake init` "
                f"to create {self.path}"
            ) from None
        stamp = (stat.st_mtime_ns, stat.st_size)
        if self._keyring is None or stamp != self._stamp:
            self._keyring = Keyring(parse_master_keys(self.path.read_text()))
            self._stamp = stamp
        return self._keyring

    def write(self, keys: tuple[bytes, ...]) -> None:
        """Replace the key file atomically (mode 0600); running processes see it on next use."""
        if self.inline:
            raise MasterKeyError("the master keys come from INTAKE_MASTER_KEY; change them there")
        write_key_file(self.path, keys)
        self._keyring = None


def write_key_file(path: Path, keys: tuple[bytes, ...]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("# Master keys of this installation, newest first. Keep a copy somewhere safe:\n")
        handle.write("# without them no report can be read.\n")
        for key in keys:
            handle.write(key.decode() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


def create_master_key_file(path: Path) -> bool:
    """The embedded default's key file, made once (mode 0600). True when it was created now."""
    if path.exists():
        return False
    write_key_file(path, (new_master_key().encode(),))
    return True


_fallback_source: KeySource | None = None


def use_key_source(source: KeySource | None) -> None:
    """The key source for code running outside any app context: the latest app's."""
    global _fallback_source
    _fallback_source = source


def active_keyring() -> Keyring:
    """The keyring of the current app, or of the process when no app context is active."""
    from flask import current_app, has_app_context

    if has_app_context() and "intake_keys" in current_app.extensions:
        source: KeySource = current_app.extensions["intake_keys"]
        return source.keyring()
    if _fallback_source is not None:
        return _fallback_source.keyring()
    raise MasterKeyError("no master key source: create the app first")


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal(data_key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-256-GCM with a random nonce; `aad` binds the ciphertext to where it belongs."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return VALUE_VERSION + nonce + AESGCM(data_key).encrypt(nonce, plaintext, aad)


def unseal(data_key: bytes, blob: bytes, aad: bytes) -> bytes:
    if blob[:1] != VALUE_VERSION or len(blob) < 1 + NONCE_BYTES + TAG_BYTES:
        raise SealBroken("not a sealed value")
    nonce = blob[1 : 1 + NONCE_BYTES]
    try:
        return AESGCM(data_key).decrypt(nonce, blob[1 + NONCE_BYTES :], aad)
    except InvalidTag:
        raise SealBroken("sealed value does not open: altered, or not sealed with this key") from None


EPOCH_WRAP_AAD = b"intake data key under an erasure epoch"


def wrap_under_epoch(kek: bytes, data_key: bytes) -> bytes:
    """A data key wrapped by an erasure epoch's key-encryption key (AES-256-GCM). (Each epoch has
    its own KEK, so a wrapped key moved to another epoch does not open.)"""
    return seal(kek, data_key, EPOCH_WRAP_AAD)


def unwrap_under_epoch(kek: bytes, wrapped: bytes) -> bytes:
    try:
        return unseal(kek, wrapped, EPOCH_WRAP_AAD)
    except SealBroken:
        raise DataKeyUnavailable("this data key does not open with its epoch's key") from None


def _chunk_nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">I", index) + (b"\x01" if last else b"\x00")


class SealedFileWriter:
    """Writes a file as a sequence of sealed chunks (an online AEAD, like age or Tink's streaming AEAD).

    Each chunk's nonce carries its index and whether it is the last, so chunks cannot be
    reordered, dropped or the file truncated without the reader noticing.
    """

    def __init__(self, out: IO[bytes], data_key: bytes, aad: bytes) -> None:
        self._out = out
        self._aead = AESGCM(data_key)
        self._aad = aad
        self._prefix = secrets.token_bytes(FILE_PREFIX_BYTES)
        self._buffer = bytearray()
        self._index = 0
        self._closed = False
        out.write(FILE_MAGIC + self._prefix)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        if self._buffer:
            take = min(len(view), FILE_CHUNK - len(self._buffer))
            self._buffer += view[:take]
            view = view[take:]
            if not view:
                return  # keep a full buffer: the last chunk is only known at close()
            self._emit(bytes(self._buffer), last=False)
            self._buffer.clear()
        # Whole chunks straight from the caller's data; the remainder (at least one byte) waits.
        while len(view) > FILE_CHUNK:
            self._emit(bytes(view[:FILE_CHUNK]), last=False)
            view = view[FILE_CHUNK:]
        self._buffer += view

    def close(self) -> None:
        if not self._closed:
            self._emit(bytes(self._buffer), last=True)
            self._buffer.clear()
            self._closed = True

    def _emit(self, chunk: bytes, last: bool) -> None:
        nonce = _chunk_nonce(self._prefix, self._index, last)
        self._out.write(self._aead.encrypt(nonce, chunk, self._aad))
        self._index += 1


def open_sealed_file(source: IO[bytes], data_key: bytes, aad: bytes) -> Iterator[bytes]:
    """The plaintext of a sealed file, chunk by chunk; raises SealBroken on any tampering."""
    header = source.read(len(FILE_MAGIC) + FILE_PREFIX_BYTES)
    if len(header) != len(FILE_MAGIC) + FILE_PREFIX_BYTES or not header.startswith(FILE_MAGIC):
        raise SealBroken("not a sealed file")
    prefix = header[len(FILE_MAGIC) :]
    aead = AESGCM(data_key)
    size = FILE_CHUNK + TAG_BYTES
    index = 0
    current = source.read(size)
    while True:
        following = source.read(size)
        last = not following
        if len(current) < TAG_BYTES:
            raise SealBroken("sealed file is truncated")
        try:
            yield aead.decrypt(_chunk_nonce(prefix, index, last), current, aad)
        except InvalidTag:
            raise SealBroken("sealed file does not open: altered, truncated or not sealed with this key") from None
        if last:
            return
        current = following
        index += 1


SPOOL_AAD = b"intake upload spool"


class SealedSpool:
    """Where an upload waits while the request is parsed: a temporary file sealed in chunks (like a
    stored file) under a random key that exists only in this object, so the plaintext never reaches
    a disk and the file, unlinked from the start, is noise once the object is gone.

    Written front to back once (Werkzeug writes the part into it), then read like a file: any seek,
    any read; each read decrypts and checks the one chunk it needs.
    """

    # Sealed bytes are kept in memory up to this size, then moved to the temporary file: a request of
    # many small parts holds no file descriptor per part.
    MEMORY_BYTES = 512 * 1024

    def __init__(self, directory: str | None = None) -> None:
        self._key = new_data_key()
        self._directory = directory
        self._file: IO[bytes] = io.BytesIO()
        self._writer: SealedFileWriter | None = SealedFileWriter(self._file, self._key, SPOOL_AAD)
        self._prefix = self._writer._prefix
        self._chunk: tuple[int, bytes] | None = None  # the chunk decrypted last: (index, plaintext)
        self._size = 0
        self._position = 0
        self.closed = False

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return self._writer is not None

    def seekable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._writer is None:
            raise io.UnsupportedOperation("the spool is written once, front to back, before it is read")
        chunk = bytes(data)
        self._writer.write(chunk)
        self._size += len(chunk)
        self._position = self._size
        if isinstance(self._file, io.BytesIO) and self._file.tell() > self.MEMORY_BYTES:
            spilled = tempfile.TemporaryFile(dir=self._directory)  # noqa: SIM115 (closed by close())
            spilled.write(self._file.getvalue())
            self._file = self._writer._out = spilled
        return len(chunk)

    def flush(self) -> None:
        pass

    def tell(self) -> int:
        return self._position

    def _finish_writing(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self._file.flush()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._finish_writing()
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._position = base + offset
        return self._position

    def _plain_chunk(self, index: int) -> bytes:
        if self._chunk is not None and self._chunk[0] == index:
            return self._chunk[1]
        count = max(1, -(-self._size // FILE_CHUNK))
        length = min(FILE_CHUNK, self._size - index * FILE_CHUNK) if self._size else 0
        self._file.seek(len(FILE_MAGIC) + FILE_PREFIX_BYTES + index * (FILE_CHUNK + TAG_BYTES))
        sealed = self._file.read(length + TAG_BYTES)
        try:
            plain = AESGCM(self._key).decrypt(_chunk_nonce(self._prefix, index, index == count - 1), sealed,
                                              SPOOL_AAD)
        except InvalidTag:
            raise SealBroken("the upload spool was altered") from None
        self._chunk = (index, plain)
        return plain

    def read(self, size: int | None = -1) -> bytes:
        self._finish_writing()
        end = self._size if size is None or size < 0 else min(self._size, self._position + size)
        parts: list[bytes] = []
        while self._position < end:
            index, within = divmod(self._position, FILE_CHUNK)
            piece = self._plain_chunk(index)[within: within + end - self._position]
            parts.append(piece)
            self._position += len(piece)
        return b"".join(parts)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        limit = self._size if size is None or size < 0 else min(self._size, self._position + size)
        line = bytearray()
        while self._position < limit:
            index, within = divmod(self._position, FILE_CHUNK)
            chunk = self._plain_chunk(index)[within: within + limit - self._position]
            cut = chunk.find(b"\n")
            piece = chunk if cut < 0 else chunk[: cut + 1]
            line += piece
            self._position += len(piece)
            if cut >= 0:
                break
        return bytes(line)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._writer = None
            self._chunk = None
            self._key = b""
            self._file.close()

    def __enter__(self) -> SealedSpool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
