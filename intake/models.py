"""The data model: organisations, users, and the whole report of design/report.md.

Every report field carries its sensitivity class (P, S or I), decided here once. Publishable fields
are plain columns (`info["sensitivity"]`), queryable in the clear. Sensitive and identifying fields
are `SealedField`s: they live in one AES-GCM sealed document per row (`sealed`), under the data key
of the row's report (see crypto.py), and are sealed when the session flushes.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, overload

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Time,
    TypeDecorator,
    UniqueConstraint,
    event,
    false,
    inspect,
    select,
    text,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.ext.hybrid import Comparator, hybrid_property
from sqlalchemy.orm import Mapped, Session, mapped_column, object_session, relationship
from sqlalchemy.orm.attributes import flag_modified

from . import crypto
from .db import Base
from .enums import (
    AgeBand,
    AttachmentStatus,
    Channel,
    CivilianStatus,
    ComponentKind,
    Consent,
    DamageExtent,
    DatePrecision,
    DeliveryPlatform,
    Grade,
    Harm,
    HarmGroup,
    IdentificationBasis,
    IdentificationConfidence,
    IncidentType,
    ItemRole,
    JobState,
    LocationPrecision,
    ManufactureDateBasis,
    ObjectKind,
    Occupation,
    ReportState,
    Risk,
    Role,
    Sensitivity,
    Sex,
    SourceReliability,
    SourceType,
    TransferDatePrecision,
    TransferItemKind,
    TransferSourceKind,
    YesNoUnknown,
)

P = {"sensitivity": Sensitivity.PUBLISHABLE}
S = {"sensitivity": Sensitivity.SENSITIVE}
I_ = {"sensitivity": Sensitivity.IDENTIFYING}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_public_id() -> str:
    """A random public identifier: URLs never reveal order or volume."""
    return str(uuid.uuid4())


def enum_column(enum_cls: type, **kw: Any) -> SAEnum:
    """Enums are stored as their ASCII values in a VARCHAR: no native types to migrate."""
    return SAEnum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
        **kw,
    )


class Timestamp(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite returns naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC timestamp")
        return value.astimezone(dt.UTC) if value is not None else None

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


class KeyEpoch(Base):
    """An erasure epoch: the key-encryption key (KEK) that wraps the data keys made on one day,
    itself wrapped by the master keys. Erasing a report destroys its epoch's KEK after wrapping the
    epoch's other data keys under a new one (`keys.shred_epoch`): the erased data key, wherever an
    old copy of its wrapped bytes survives (a dead row version, the WAL), no longer unwraps. The
    only bytes erasure must then remove from the disk are the few rows of this table."""

    __tablename__ = "key_epochs"
    # Ids never reused (SQLite would reuse the highest after a delete): a process that kept a
    # shredded epoch in memory must meet the foreign key, not a new epoch under the same id.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    # Random, never reused: what a process that keeps an epoch in memory checks it against.
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    period: Mapped[dt.date] = mapped_column(Date, index=True)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    master_key_id: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)

    @classmethod
    def create(cls, period: dt.date, keyring: crypto.Keyring | None = None) -> KeyEpoch:
        keyring = keyring or crypto.active_keyring()
        plain = crypto.new_data_key()
        epoch = cls(uid=new_public_id(), period=period, wrapped=keyring.wrap(plain), master_key_id=keyring.primary_id)
        epoch.__dict__["_plain"] = plain
        return epoch

    @classmethod
    def current(cls, session: Session) -> KeyEpoch:
        """Today's epoch, made by the first key of the day (two made at once are both valid)."""
        today = utcnow().date()
        with session.no_autoflush:
            epoch = session.scalar(select(cls).where(cls.period == today).order_by(cls.id.desc()).limit(1))
        if epoch is None:
            epoch = cls.create(today)
            session.add(epoch)
        return epoch

    def plain(self) -> bytes:
        cached = self.__dict__.get("_plain")
        if cached is None:
            cached = self.__dict__["_plain"] = crypto.active_keyring().unwrap(self.wrapped)
        return bytes(cached)


class DataKey(Base):
    """One report's data key, stored only wrapped by its erasure epoch's KEK (or, from before
    migration 0015d, by a master key). Erasing it (wrapped = NULL) and then its epoch's KEK makes
    everything sealed with it unreadable, in this database and in every copy of it."""

    __tablename__ = "data_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Which master key wrapped it (a fingerprint, not the key): what a rotation still has to rewrap.
    # NULL for a key wrapped by its epoch's KEK (the epoch names its master key).
    master_key_id: Mapped[str | None] = mapped_column(String(16), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    erased_at: Mapped[dt.datetime | None] = mapped_column(Timestamp())
    epoch_id: Mapped[int | None] = mapped_column(ForeignKey("key_epochs.id"), index=True)
    epoch: Mapped[KeyEpoch | None] = relationship()

    def wrap_under(self, epoch: KeyEpoch, plain: bytes | None = None) -> None:
        """Wrap this key under `epoch`'s KEK (a new key at its first flush, or in a shredding)."""
        plain = plain if plain is not None else self.plain()
        self.epoch = epoch
        self.wrapped = crypto.wrap_under_epoch(epoch.plain(), plain)
        self.master_key_id = None
        self.__dict__["_plain"] = plain

    @classmethod
    def create(cls, keyring: crypto.Keyring | None = None) -> DataKey:
        keyring = keyring or crypto.active_keyring()
        plain = crypto.new_data_key()
        key = cls(wrapped=keyring.wrap(plain), master_key_id=keyring.primary_id)
        key.__dict__["_plain"] = plain
        return key

    @property
    def erased(self) -> bool:
        return self.wrapped is None

    def plain(self) -> bytes:
        """The unwrapped key, kept on this object for the life of the session."""
        cached = self.__dict__.get("_plain")
        if cached is not None and self.wrapped is not None:
            return bytes(cached)
        if self.wrapped is None:
            raise crypto.DataKeyUnavailable("this report's data key was erased")
        if self.epoch_id is not None or self.epoch is not None:
            epoch = self.epoch
            if epoch is None and inspect(self).persistent:
                # Its epoch was shredded since this row was read: it is under a new epoch now.
                object_session(self).refresh(self)  # type: ignore[union-attr]
                if self.wrapped is None:
                    raise crypto.DataKeyUnavailable("this report's data key was erased")
                epoch = self.epoch
            if epoch is None:
                raise crypto.DataKeyUnavailable("this data key's epoch key was destroyed")
            plain = crypto.unwrap_under_epoch(epoch.plain(), self.wrapped)
        else:
            plain = crypto.active_keyring().unwrap(self.wrapped)
        self.__dict__["_plain"] = plain
        return plain

    def erase(self) -> None:
        self.wrapped = None
        self.master_key_id = None
        self.erased_at = utcnow()
        self.__dict__.pop("_plain", None)


T = TypeVar("T")


class SealedField(Generic[T]):
    """An S- or I-class field of a `SealedRow`: read from and written to the row's sealed document."""

    def __init__(self, sensitivity: Sensitivity, default: Any = None) -> None:
        self.sensitivity = sensitivity
        self.default = default
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        owner.__sealed__ = {**getattr(owner, "__sealed__", {}), name: self.sensitivity}  # type: ignore[attr-defined]

    @overload
    def __get__(self, obj: None, owner: type) -> SealedField[T]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> T: ...
    def __get__(self, obj: object | None, owner: type) -> SealedField[T] | T:
        if obj is None:
            return self
        assert isinstance(obj, SealedRow)
        return obj.sealed_document().get(self.name, self.default)  # type: ignore[no-any-return]

    def __set__(self, obj: object, value: T) -> None:
        assert isinstance(obj, SealedRow)
        obj.sealed_document()[self.name] = value
        obj.mark_sealed_changed()


class SealedRow:
    """A row whose sensitive and identifying fields are one sealed JSON document (`sealed`)."""

    __sealed__: ClassVar[dict[str, Sensitivity]] = {}
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary, info={"sensitivity": "sealed"})

    def data_key_for_sealing(self) -> DataKey:
        raise NotImplementedError

    def _aad(self) -> bytes:
        """What the sealed document is bound to: its table, its row and its report (and through the
        report its organisation and reporter). A document copied into another row, or a row given
        another report, reporter or organisation in the database, no longer opens (`SealBroken`)."""
        return f"intake:{self.__tablename__}:{self.seal_row_id()}:{self.seal_context()}".encode()  # type: ignore[attr-defined]

    def seal_row_id(self) -> str:
        """The row's random identity: its public id, or `seal_id` where it has none (set once)."""
        name = "public_id" if "public_id" in inspect(type(self)).columns else "seal_id"
        value = getattr(self, name)
        if value is None:
            value = new_public_id()
            setattr(self, name, value)
        return str(value)

    def seal_context(self) -> str:
        """The report the row belongs to (rows of a report); see `Report.seal_context`."""
        report = getattr(self, "report", None)
        if report is None:
            raise crypto.SealBroken("a sealed row of a report without its report")
        return str(report.seal_context())

    def sealed_document(self) -> dict[str, Any]:
        state = self.__dict__.get("_sealed_state")
        blob = self.sealed
        if state is not None and state[2]:
            return state[0]  # type: ignore[no-any-return]
        # Nothing sealed yet (a new row), or opened already from these very bytes, bound as the row
        # is bound now.
        aad = None if blob is None else self._aad()
        if state is not None and state[1] is blob and state[3] == aad:
            return state[0]  # type: ignore[no-any-return]
        document: dict[str, Any] = {}
        if blob is not None:
            assert aad is not None
            key = self.data_key_for_sealing().plain()
            try:
                document = json.loads(crypto.unseal(key, bytes(blob), aad))
            except crypto.SealBroken:
                raise crypto.SealBroken(
                    f"a sealed {self.__tablename__} document does not open in its row: altered, or moved "  # type: ignore[attr-defined]
                    "from another row, report or reporter"
                ) from None
        self.__dict__["_sealed_state"] = (document, blob, False, aad)
        return document

    def mark_sealed_changed(self) -> None:
        document = self.sealed_document()
        self.__dict__["_sealed_state"] = (document, self.sealed, True, None)
        if inspect(self).persistent:
            flag_modified(self, "sealed")

    def seal_if_changed(self) -> None:
        state = self.__dict__.get("_sealed_state")
        if state is None or not state[2]:
            return
        key = self.data_key_for_sealing().plain()
        payload = json.dumps(state[0], ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        aad = self._aad()
        blob = crypto.seal(key, payload.encode(), aad)
        self.sealed = blob
        self.__dict__["_sealed_state"] = (state[0], blob, False, aad)


@event.listens_for(Session, "before_flush")
def _seal_before_flush(session: Session, _context: Any, _instances: Any) -> None:
    """Seal every changed sealed document; a new report gets its data key here."""
    for obj in [*session.new, *session.dirty]:
        if isinstance(obj, SealedRow):
            obj.seal_if_changed()


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_public_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    # The key of the organisation's pseudonyms (the same person, the same pseudonym across its reports),
    # wrapped by the master keys; made by the first anonymization.
    pseudonym_key_wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)

    users: Mapped[list[User]] = relationship(back_populates="organisation")


class _EmailComparator(Comparator[str]):
    """`User.email == "a@b.org"` in a query: matches the blind index under any configured master key."""

    def __eq__(self, other: Any) -> Any:  # type: ignore[override]
        candidates = crypto.active_keyring().blind_index_candidates(str(other).strip().lower())
        return User.email_index.in_(candidates)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_public_id)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    # The sign-in e-mail is identifying: stored wrapped by the master keys, and found by a keyed hash
    # (a blind index) of its normalised form. `User.email == x` in a query compares that hash.
    email_index: Mapped[str] = mapped_column(String(64), unique=True)
    email_wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(enum_column(Role))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(Timestamp())
    # The TOTP secret (base32), stored only wrapped by the master keys (see `totp_secret`): a copy of
    # the database must not hand out everyone's second factor. Set but not confirmed while enrolling.
    totp_secret_wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_confirmed_at: Mapped[dt.datetime | None] = mapped_column(Timestamp())
    # The last TOTP time step accepted: a code is good once, never again within its window.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    # Wrong passwords and wrong codes since the last full sign-in; at the limit, sign-in is locked.
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[dt.datetime | None] = mapped_column(Timestamp())
    # Set for a password someone else chose (the one `intake user create` prints): nothing opens
    # until the user has chosen their own.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The user asked to be told (e-mail to their account address, and the instance's webhook) when
    # a verifier's question waits for them. Off unless they turn it on (intake.notices).
    notify_questions: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The interface language the user last chose (intake.i18n): the device they sign in on next
    # starts in it, and notices to them are written in it. None: the device's or browser's choice.
    language: Mapped[str | None] = mapped_column(String(16))

    organisation: Mapped[Organisation] = relationship(back_populates="users")
    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")
    recovery_codes: Mapped[list[RecoveryCode]] = relationship(back_populates="user", cascade="all, delete-orphan")

    @hybrid_property
    def email(self) -> str:
        return crypto.active_keyring().unwrap(self.email_wrapped).decode()

    @email.inplace.setter
    def _email_setter(self, value: str) -> None:
        keyring = crypto.active_keyring()
        normalised = value.strip().lower()
        self.email_wrapped = keyring.wrap(normalised.encode())
        self.email_index = keyring.blind_index(normalised)

    @email.inplace.comparator
    @classmethod
    def _email_comparator(cls) -> _EmailComparator:
        return _EmailComparator(cls.email_index)

    @property
    def totp_secret(self) -> str | None:
        if self.totp_secret_wrapped is None:
            return None
        return crypto.active_keyring().unwrap(self.totp_secret_wrapped).decode()

    @totp_secret.setter
    def totp_secret(self, value: str | None) -> None:
        self.totp_secret_wrapped = None if value is None else crypto.active_keyring().wrap(value.encode())

    # Flask-Login's user protocol. The session stores the random public id, not the row id.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return self.public_id


class RecoveryCode(Base):
    """A one-time code that stands in for the TOTP code when the phone is lost. Only a salted
    SHA-256 is stored: the codes are random enough (50 bits) that a slow hash adds nothing."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    salt: Mapped[str] = mapped_column(String(32))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    used_at: Mapped[dt.datetime | None] = mapped_column(Timestamp())

    user: Mapped[User] = relationship(back_populates="recovery_codes")


class ApiToken(Base):
    """A bearer token for the JSON API. Only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(Timestamp())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(Timestamp())
    # After this the token is refused (None: it never expires).
    expires_at: Mapped[dt.datetime | None] = mapped_column(Timestamp())
    # What the token may do (accounts.TOKEN_SCOPES): "submit" (file and read one's own reports, the
    # default) or a read-only export scope, "export:public" or "export:partner" (migration 0016g).
    scope: Mapped[str] = mapped_column(String(32), default="submit", server_default="submit")

    user: Mapped[User] = relationship(back_populates="tokens")


# ---- server-side sessions and sign-in throttling ---------------------------------------------------


class UserSession(Base):
    """One signed-in browser (or one sign-in waiting for its second factor). The session cookie
    carries a random id; only its SHA-256 is stored here, so a copy of this table opens nothing,
    and deleting or ending a row signs that browser out at its next request."""

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_user", "user_id", "ended_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    # When the second factor was passed (None: a password-only session, or one still owing it).
    second_factor_at: Mapped[dt.datetime | None] = mapped_column(Timestamp())
    # A keyed hash of the browser's address and user agent: the device the session is bound to.
    device_digest: Mapped[str] = mapped_column(String(64))
    # The TOTP key being enrolled in this sign-in only, wrapped by the master keys.
    enrolment_secret_wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    ended_at: Mapped[dt.datetime | None] = mapped_column(Timestamp())
    end_reason: Mapped[str | None] = mapped_column(String(32))

    user: Mapped[User] = relationship()

    @property
    def enrolment_secret(self) -> str | None:
        if self.enrolment_secret_wrapped is None:
            return None
        return crypto.active_keyring().unwrap(self.enrolment_secret_wrapped).decode()

    @enrolment_secret.setter
    def enrolment_secret(self, value: str | None) -> None:
        self.enrolment_secret_wrapped = None if value is None else crypto.active_keyring().wrap(value.encode())


class SignInThrottle(Base):
    """Wrong passwords from one client for one typed e-mail address, known account or not: the key
    is a keyed hash of both, so the table names nobody and cannot tell which addresses exist."""

    __tablename__ = "sign_in_throttles"
    __table_args__ = (Index("ix_sign_in_throttles_last_failure", "last_failure_at"),)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[dt.datetime | None] = mapped_column(Timestamp())
    last_failure_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)


class Submission(Base):
    """The intake journal: one row per submission, written before the receipt is shown.

    A submission is what the field worker was told is safe. The API accepts a report by writing
    this one row (the whole report sealed under its own data key, the idempotency key and the
    receipt) and answers; a worker then files it as a `Report` with its rows and pipeline job, in
    one transaction that also drops the sealed copy here. The web form files at once, in the same
    transaction as this row. (reporter, submission id) is unique here, for every channel: the one
    idempotency gate. `due_at` is the outbox: a pending submission past it is dispatched (again).
    """

    __tablename__ = "submissions"
    __table_args__ = (
        UniqueConstraint("reporter_id", "submission_id"),
        Index("ix_submissions_due", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The report's public id and receipt, fixed at acceptance and kept when it is filed.
    public_id: Mapped[str] = mapped_column(String(36), unique=True, info=P)
    receipt_code: Mapped[str] = mapped_column(String(16), unique=True, info=P)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), info=P)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("users.id"), info=I_)
    channel: Mapped[Channel] = mapped_column(enum_column(Channel), info=P)
    submission_id: Mapped[str] = mapped_column(String(64), info=P)
    received_at: Mapped[dt.datetime] = mapped_column(Timestamp(), info=P)
    # The validated report as JSON, sealed (AES-256-GCM) under `key_wrapped`; NULL once filed.
    payload: Mapped[bytes | None] = mapped_column(LargeBinary, info={"sensitivity": "sealed"})
    key_wrapped: Mapped[bytes | None] = mapped_column(LargeBinary, info=P)
    master_key_id: Mapped[str | None] = mapped_column(String(16), info=P)
    # The erasure epoch whose KEK wraps `key_wrapped` (see KeyEpoch); NULL once filed.
    key_epoch_id: Mapped[int | None] = mapped_column(ForeignKey("key_epochs.id"), index=True, info=P)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id", ondelete="SET NULL"), unique=True,
                                                  info=P)
    # When the relay should dispatch its filing (again); NULL once filed.
    due_at: Mapped[dt.datetime | None] = mapped_column(Timestamp(), info=P)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0", info=P)
    # Exception class of the last failed filing: never its message, which may quote the report.
    last_error: Mapped[str | None] = mapped_column(String(200), info=P)


class Report(SealedRow, Base):
    __tablename__ = "reports"
    __table_args__ = (
        # The idempotency key: a retry of the same submission by the same person is one report.
        UniqueConstraint("reporter_id", "submission_id"),
        # Keyset pagination of the queue: (organisation, state, received_at, id) for the sorts by
        # arrival, and one index per other sort (see queue.py): the queue stays an index range scan
        # at a million reports.
        Index("ix_reports_queue", "organisation_id", "state", "received_at", "id"),
        Index("ix_reports_priority", "organisation_id", "state", "casualty_total", "received_at", "id"),
        Index("ix_reports_occurred", "organisation_id", "state", "occurred_on", "id"),
        # "Mine" and the "claimed by" filter; the idle-claim sweep looks claims up by last activity.
        Index("ix_reports_claimed_by", "claimed_by_id", "state"),
        Index("ix_reports_claim_activity", "state", "last_activity_at"),
        # The queue's most used filters (incident type, dates of the event), counts included.
        Index("ix_reports_filter", "organisation_id", "state", "incident_type", "occurred_on"),
        # "Awaiting sign-off": few rows among many in review.
        Index("ix_reports_sign_off", "organisation_id", postgresql_where=text("sign_off_pending"),
              sqlite_where=text("sign_off_pending")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_public_id, info=P)
    receipt_code: Mapped[str] = mapped_column(String(16), unique=True, info=P)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), info=P)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True, info=I_)
    channel: Mapped[Channel] = mapped_column(enum_column(Channel), info=P)
    submission_id: Mapped[str] = mapped_column(String(64), info=P)
    state: Mapped[ReportState] = mapped_column(enum_column(ReportState), default=ReportState.RECEIVED, info=P)
    received_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow, info=P)
    state_changed_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow, info=P)

    # Event
    occurred_on: Mapped[dt.date] = mapped_column(Date, info=P)
    occurred_time: Mapped[dt.time | None] = mapped_column(Time, info=P)
    date_precision: Mapped[DatePrecision] = mapped_column(enum_column(DatePrecision), info=P)
    country: Mapped[str] = mapped_column(String(2), info=P)
    admin1: Mapped[str | None] = mapped_column(String(200), info=P)
    admin2: Mapped[str | None] = mapped_column(String(200), info=P)
    locality: Mapped[str | None] = mapped_column(String(200), info=P)
    latitude = SealedField[float | None](Sensitivity.SENSITIVE)
    longitude = SealedField[float | None](Sensitivity.SENSITIVE)
    location_precision: Mapped[LocationPrecision] = mapped_column(enum_column(LocationPrecision), info=P)
    incident_type: Mapped[IncidentType] = mapped_column(enum_column(IncidentType), info=P)
    narrative = SealedField[str](Sensitivity.SENSITIVE, default="")
    narrative_language: Mapped[str | None] = mapped_column(String(8), info=P)
    # What the workers made of it (intake/anonymization.py): the account with typed, numbered
    # placeholders; the review flags; a coarse cell in place of the point; when. The account is
    # sealed, not publishable: it holds whatever the anonymizer missed and every redaction a
    # verifier lifted, and goes with the report's data key.
    narrative_anonymized = SealedField[str | None](Sensitivity.SENSITIVE)
    anonymization: Mapped[dict[str, Any] | None] = mapped_column(JSON, info=P)
    location_cell: Mapped[str | None] = mapped_column(String(16), index=True, info=P)
    anonymized_at: Mapped[dt.datetime | None] = mapped_column(Timestamp(), info=P)
    # Which original words each placeholder stands for, for a verifier who lifts a redaction.
    redaction_map = SealedField[dict[str, list[str]] | None](Sensitivity.SENSITIVE)

    # Harm: counts by harm and group, e.g. killed_women. See `count_column_names`.
    displaced: Mapped[int | None] = mapped_column(Integer, info=P)

    # Weapon
    delivery_platform: Mapped[DeliveryPlatform] = mapped_column(enum_column(DeliveryPlatform), info=P)
    platform_model: Mapped[str | None] = mapped_column(String(200), info=P)
    # Who made the platform and the munition, as reported (ISO 3166 alpha-2, like components'):
    # public facts, as the designation is (intake/items).
    platform_manufacturer: Mapped[str | None] = mapped_column(String(200), info=P)
    platform_country: Mapped[str | None] = mapped_column(String(2), info=P)
    munition_type: Mapped[str | None] = mapped_column(String(200), info=P)
    munition_model: Mapped[str | None] = mapped_column(String(200), info=P)
    munition_manufacturer: Mapped[str | None] = mapped_column(String(200), info=P)
    munition_country: Mapped[str | None] = mapped_column(String(2), info=P)
    remnants_found: Mapped[YesNoUnknown] = mapped_column(enum_column(YesNoUnknown), info=P)
    markings: Mapped[str | None] = mapped_column(Text, info=P)
    identification_basis: Mapped[IdentificationBasis | None] = mapped_column(
        enum_column(IdentificationBasis), info=P
    )
    identification_confidence: Mapped[IdentificationConfidence | None] = mapped_column(
        enum_column(IdentificationConfidence), info=P
    )
    # Who used the weapon in the conflict (a state, ISO 3166-1 alpha-2): as reported, and as the
    # verifier assessed it at review (intake/transfers; a transfer's diversion indicator reads it).
    used_by: Mapped[str | None] = mapped_column(String(2), info=P)
    used_by_assessed: Mapped[str | None] = mapped_column(String(2), info=P)

    # Sources and consent
    source_type: Mapped[SourceType] = mapped_column(enum_column(SourceType), info=P)
    consent: Mapped[Consent] = mapped_column(enum_column(Consent), info=P)
    risk_to_source: Mapped[Risk] = mapped_column(enum_column(Risk), info=P)

    data_key_id: Mapped[int] = mapped_column(ForeignKey("data_keys.id"), index=True, info=P)
    data_key: Mapped[DataKey] = relationship()

    # Review (design/workflow.md). A claim names who works on the report and since when; a claim
    # without activity for CLAIM_IDLE_SECONDS goes back to triage.
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), info=P)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(Timestamp(), info=P)
    last_activity_at: Mapped[dt.datetime | None] = mapped_column(Timestamp(), info=P)
    # Killed and injured over every group: the key of the priority sort, kept in step with the
    # counts at every flush (see `_sync_casualty_total`).
    casualty_total: Mapped[int] = mapped_column(Integer, default=0, server_default="0", info=P)
    # The checklist as the claimant is filling it in; each grading keeps a copy (Assessment).
    location_verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), info=P)
    time_verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), info=P)
    media_authentic: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), info=P)
    weapon_checked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), info=P)
    independent_sources: Mapped[int] = mapped_column(Integer, default=0, server_default="0", info=P)
    # The grade in force (set when verified; kept through a reopening, so that grading lower
    # afterwards is recognised as a downgrade) and whether a confirmed grade awaits its sign-off.
    grade: Mapped[Grade | None] = mapped_column(enum_column(Grade), info=P)
    source_reliability: Mapped[SourceReliability | None] = mapped_column(enum_column(SourceReliability), info=P)
    sign_off_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), info=P)
    # The grade and reliability the claimant chose when they last saved the checklist without grading
    # ("Save checklist"): shown chosen again on the form, in force only once graded.
    draft_grade: Mapped[Grade | None] = mapped_column(enum_column(Grade), info=P)
    draft_source_reliability: Mapped[SourceReliability | None] = mapped_column(enum_column(SourceReliability),
                                                                               info=P)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"), index=True, info=P)

    reporter: Mapped[User] = relationship(foreign_keys=[reporter_id])
    claimed_by: Mapped[User | None] = relationship(foreign_keys=[claimed_by_id])
    duplicate_of: Mapped[Report | None] = relationship(remote_side=[id], foreign_keys=[duplicate_of_id])
    victims: Mapped[list[Victim]] = relationship(
        back_populates="report", order_by="Victim.position", cascade="all, delete-orphan"
    )
    objects_damaged: Mapped[list[DamagedObject]] = relationship(
        back_populates="report", order_by="DamagedObject.position", cascade="all, delete-orphan"
    )
    components: Mapped[list[Component]] = relationship(
        back_populates="report", order_by="Component.position", cascade="all, delete-orphan"
    )
    witnesses: Mapped[list[Witness]] = relationship(
        back_populates="report", order_by="Witness.position", cascade="all, delete-orphan"
    )
    links: Mapped[list[Link]] = relationship(
        back_populates="report", order_by="Link.position", cascade="all, delete-orphan"
    )
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="report", order_by="Attachment.id", cascade="all, delete-orphan"
    )
    transitions: Mapped[list[StateTransition]] = relationship(
        back_populates="report", order_by="StateTransition.id", cascade="all, delete-orphan"
    )
    redaction_corrections: Mapped[list[RedactionCorrection]] = relationship(
        back_populates="report", order_by="RedactionCorrection.id", cascade="all, delete-orphan"
    )
    job: Mapped[PipelineJob | None] = relationship(back_populates="report", cascade="all, delete-orphan")
    assessments: Mapped[list[Assessment]] = relationship(
        back_populates="report", order_by="Assessment.id", cascade="all, delete-orphan"
    )
    comments: Mapped[list[ReviewComment]] = relationship(
        back_populates="report", order_by="ReviewComment.id", cascade="all, delete-orphan"
    )
    info_requests: Mapped[list[InfoRequest]] = relationship(
        back_populates="report", order_by="InfoRequest.id", cascade="all, delete-orphan"
    )
    item_assessments: Mapped[list[ItemAssessment]] = relationship(
        back_populates="report", order_by="ItemAssessment.id", cascade="all, delete-orphan"
    )

    def data_key_for_sealing(self) -> DataKey:
        if self.data_key is None:
            self.data_key = DataKey.create()
        return self.data_key

    def seal_context(self) -> str:
        """What every sealed value of the report is bound to: the report, its organisation and its
        reporter (a report given to another reporter in the database does not open for them)."""
        reporter_id = self.reporter_id if self.reporter_id is not None else self.reporter.id
        return f"report:{self.seal_row_id()}:org:{self.organisation_id}:reporter:{reporter_id}"

    @property
    def erased(self) -> bool:
        """Its data key was erased: what was sealed (narrative, exact place, identities, files) is gone."""
        return self.data_key is not None and self.data_key.erased

    def count(self, harm: Harm, group: HarmGroup) -> int:
        return int(getattr(self, f"{harm.value}_{group.value}") or 0)

    def total(self, harm: Harm) -> int:
        return sum(self.count(harm, g) for g in HarmGroup)

    def listed(self, harm: Harm) -> int:
        """People listed one by one with this harm."""
        return sum(1 for v in self.victims if v.harm == harm)

    def reckoned(self, harm: Harm) -> int:
        """What the report says at least: the larger of the table and the people listed (casualties.py)."""
        return max(self.total(harm), self.listed(harm))

    def checklist_done(self) -> int:
        """How many of the four checks are ticked."""
        return sum((self.location_verified, self.time_verified, self.media_authentic, self.weapon_checked))

    @property
    def pending_assessment(self) -> Assessment | None:
        """The confirmed grade that waits for a second person's sign-off, if one does."""
        if not self.sign_off_pending or not self.assessments:
            return None
        return self.assessments[-1]

    @property
    def open_question(self) -> InfoRequest | None:
        """The question to the reporter not yet answered, if there is one."""
        last = self.info_requests[-1] if self.info_requests else None
        return last if last is not None and last.answered_at is None else None


def count_column_names() -> list[str]:
    """`killed_men` … `missing_unknown`: one count column per harm and group."""
    return [f"{h.value}_{g.value}" for h in Harm for g in HarmGroup]


for _name in count_column_names():
    setattr(Report, _name, mapped_column(_name, Integer, default=0, nullable=False, info=P))


class _Row:
    """Columns shared by every repeatable row of a report."""

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class _SealedReportRow(_Row, SealedRow):
    """A repeatable row with sealed fields: sealed under its report's data key."""

    if TYPE_CHECKING:
        report: Report

    def data_key_for_sealing(self) -> DataKey:
        return self.report.data_key_for_sealing()


class Victim(_SealedReportRow, Base):
    __tablename__ = "victims"

    name = SealedField[str | None](Sensitivity.IDENTIFYING)
    # The organisation's keyed pseudonym of the name: the same person, the same pseudonym in every report.
    pseudonym: Mapped[str | None] = mapped_column(String(32), info=P)
    age: Mapped[int | None] = mapped_column(Integer, info=P)
    age_band: Mapped[AgeBand | None] = mapped_column(enum_column(AgeBand), info=P)
    sex: Mapped[Sex] = mapped_column(enum_column(Sex), info=P)
    harm: Mapped[Harm] = mapped_column(enum_column(Harm), info=P)
    civilian_status: Mapped[CivilianStatus] = mapped_column(enum_column(CivilianStatus), info=P)
    occupation: Mapped[Occupation] = mapped_column(enum_column(Occupation), info=P)

    report: Mapped[Report] = relationship(back_populates="victims")


class DamagedObject(_Row, Base):
    __tablename__ = "damaged_objects"

    kind: Mapped[ObjectKind] = mapped_column(enum_column(ObjectKind), info=P)
    extent: Mapped[DamageExtent] = mapped_column(enum_column(DamageExtent), info=P)

    report: Mapped[Report] = relationship(back_populates="objects_damaged")


class Component(_Row, Base):
    __tablename__ = "components"

    kind: Mapped[ComponentKind] = mapped_column(enum_column(ComponentKind), info=P)
    model: Mapped[str | None] = mapped_column(String(200), info=P)
    manufacturer: Mapped[str | None] = mapped_column(String(200), info=P)
    country_of_manufacture: Mapped[str | None] = mapped_column(String(2), info=P)
    # What the item itself says (design/evidence.md, "Item fields worth keeping apart"). Markings and
    # codes are publishable facts about a manufactured object, as the report's markings are
    # (design/report.md): they name a product and a batch, never a person.
    markings: Mapped[str | None] = mapped_column(Text, info=P)
    serial_number: Mapped[str | None] = mapped_column(String(100), info=P)
    lot_number: Mapped[str | None] = mapped_column(String(100), info=P)
    part_number: Mapped[str | None] = mapped_column(String(100), info=P)
    cage_code: Mapped[str | None] = mapped_column(String(5), info=P)
    # ISO 8601 to the precision the evidence gives: "2020", "2020-06" or "2020-06-14".
    manufactured_on: Mapped[str | None] = mapped_column(String(10), info=P)
    manufacture_date_basis: Mapped[ManufactureDateBasis | None] = mapped_column(
        enum_column(ManufactureDateBasis), info=P)
    identification_basis: Mapped[IdentificationBasis | None] = mapped_column(
        enum_column(IdentificationBasis), info=P)
    identification_confidence: Mapped[IdentificationConfidence | None] = mapped_column(
        enum_column(IdentificationConfidence), info=P)

    report: Mapped[Report] = relationship(back_populates="components")


class Witness(_SealedReportRow, Base):
    __tablename__ = "witnesses"

    name = SealedField[str | None](Sensitivity.IDENTIFYING)
    phone = SealedField[str | None](Sensitivity.IDENTIFYING)
    email = SealedField[str | None](Sensitivity.IDENTIFYING)
    relation = SealedField[str | None](Sensitivity.IDENTIFYING)
    may_contact = SealedField[bool](Sensitivity.IDENTIFYING, default=False)
    pseudonym: Mapped[str | None] = mapped_column(String(32), info=P)

    report: Mapped[Report] = relationship(back_populates="witnesses")


class Link(_SealedReportRow, Base):
    __tablename__ = "links"

    url = SealedField[str](Sensitivity.SENSITIVE, default="")

    report: Mapped[Report] = relationship(back_populates="links")


class Attachment(SealedRow, Base):
    """An uploaded file. Before its report exists it waits in the uploader's stash, keyed by the
    form's submission id, so a form re-shown with an error never asks for the files again.

    The file is stored sealed with its report's data key (a form's stash gets the key the report
    made from it will use), as are its name, description and the metadata read from it.
    """

    __tablename__ = "attachments"
    __table_args__ = (
        # The same file sent twice to one report (a retry) is one attachment.
        UniqueConstraint("report_id", "sha256"),
        Index("ix_attachments_stash", "uploaded_by_id", "stash_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_public_id, info=P)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True, info=P)
    report_id: Mapped[int | None] = mapped_column(
        ForeignKey("reports.id", ondelete="CASCADE"), index=True, info=P
    )
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), info=I_)
    stash_key: Mapped[str | None] = mapped_column(String(64), info=P)
    storage_name: Mapped[str] = mapped_column(String(64), unique=True, info=S)
    original_filename = SealedField[str | None](Sensitivity.SENSITIVE)
    media_type: Mapped[str] = mapped_column(String(100), info=P)
    size: Mapped[int] = mapped_column(Integer, info=P)
    sha256: Mapped[str] = mapped_column(String(64), info=P)
    # Local time as the reporter gave it; the time zone of the place is not known here.
    captured_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=False), info=P)
    description = SealedField[str | None](Sensitivity.SENSITIVE)
    # Its anonymized version, sealed like the report's anonymized account (what was missed stays hidden).
    description_anonymized = SealedField[str | None](Sensitivity.SENSITIVE)
    status: Mapped[AttachmentStatus] = mapped_column(
        enum_column(AttachmentStatus), default=AttachmentStatus.STORED, info=P
    )
    status_reason: Mapped[str | None] = mapped_column(String(200), info=P)
    # What the file itself says about where, when and with what it was made (EXIF GPS, time, camera).
    embedded_metadata = SealedField[dict[str, Any] | None](Sensitivity.SENSITIVE)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow, info=P)
    inspected_at: Mapped[dt.datetime | None] = mapped_column(Timestamp(), info=P)
    # The worker-made copy shown by default: no metadata, faces in photos covered (intake.derivatives).
    # Stored sealed like the original. Without one the file is "original only", not shown by default;
    # `derivative_note` says why, or what the copy still shows (e.g. faces in videos).
    derivative_storage_name: Mapped[str | None] = mapped_column(String(64), unique=True, info=P)
    derivative_media_type: Mapped[str | None] = mapped_column(String(100), info=P)
    derivative_size: Mapped[int | None] = mapped_column(Integer, info=P)
    derivative_sha256: Mapped[str | None] = mapped_column(String(64), info=P)
    faces_covered: Mapped[int | None] = mapped_column(Integer, info=P)
    derivative_note: Mapped[str | None] = mapped_column(String(200), info=P)
    derived_at: Mapped[dt.datetime | None] = mapped_column(Timestamp(), info=P)

    data_key_id: Mapped[int] = mapped_column(ForeignKey("data_keys.id"), index=True, info=P)
    data_key: Mapped[DataKey] = relationship()
    report: Mapped[Report | None] = relationship(back_populates="attachments")

    def data_key_for_sealing(self) -> DataKey:
        # A report's files are sealed with its data key: a file row moved to another report is refused.
        if self.report is not None and self.report.data_key is not self.data_key:
            raise crypto.SealBroken("an attachment that is not sealed with its report's key")
        return self.data_key

    def seal_context(self) -> str:
        """Bound to its report once it has one (`rebind` when a kept upload joins its report), and
        before that to its uploader's stash."""
        if self.report is not None:
            return self.report.seal_context()
        uploader = self.uploaded_by_id
        return f"stash:org:{self.organisation_id}:uploader:{uploader}"

    def rebind(self, report: Report) -> None:
        """A kept upload joins its report: its document is opened where it was and sealed again
        bound to the report (at the next flush)."""
        self.mark_sealed_changed()  # opened as it is bound now; sealed again at the flush
        self.stash_key = None
        report.attachments.append(self)


class RedactionCorrection(SealedRow, Base):
    """A verifier's correction of the anonymizer on one report: hide more (`add`) or lift a redaction
    (`remove`). Applied at every later run, and kept as evaluation data for the anonymizer."""

    __tablename__ = "redaction_corrections"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(8))  # add | remove
    entity_type: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    # The words concerned: they may be a name the anonymizer missed, so they are sealed.
    surface = SealedField[str](Sensitivity.SENSITIVE, default="")

    report: Mapped[Report] = relationship(back_populates="redaction_corrections")

    def data_key_for_sealing(self) -> DataKey:
        return self.report.data_key_for_sealing()


_PRIORITY_INPUTS = (*(f"{h.value}_{g.value}" for h in (Harm.KILLED, Harm.INJURED) for g in HarmGroup), "victims")


@event.listens_for(Session, "before_flush")
def _sync_casualty_total(session: Session, _context: Any, _instances: Any) -> None:
    """Keep `Report.casualty_total` equal to its killed and injured, each the larger of the table and
    the people listed (casualties.py), whoever wrote them. A report whose counts and list did not
    change is left alone, so a claim or a grade does not load its list of people."""
    from .casualties import priority_total

    reports: set[Report] = set()
    for obj in [*session.new, *session.dirty]:
        if isinstance(obj, Report):
            state = inspect(obj)
            if obj in session.new or any(state.attrs[name].history.has_changes() for name in _PRIORITY_INPUTS):
                reports.add(obj)
        elif isinstance(obj, Victim) and obj.report is not None:
            reports.add(obj.report)
    for report in reports:
        counted = {harm: report.total(harm) for harm in Harm}
        listed = {harm: report.listed(harm) for harm in Harm}
        total = priority_total(counted, listed)
        if report.casualty_total != total:
            report.casualty_total = total


class StateTransition(SealedRow, Base):
    """One step in a report's life: who moved it from where to where, when and why.

    The reason (reject, reopen) is typed by a person and may quote one: sealed under the report's key.
    """

    __tablename__ = "state_transitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    from_state: Mapped[ReportState | None] = mapped_column(enum_column(ReportState))
    to_state: Mapped[ReportState] = mapped_column(enum_column(ReportState))
    # None when the system (a worker) made the step.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason = SealedField[str | None](Sensitivity.SENSITIVE)
    # What verifiers see by default of the reason (made by the workers, like comments').
    reason_anonymized = SealedField[str | None](Sensitivity.SENSITIVE)
    at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    # Who holds the claim after a claim or a reassignment.
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    report: Mapped[Report] = relationship(back_populates="transitions")
    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id])
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])

    def data_key_for_sealing(self) -> DataKey:
        return self.report.data_key_for_sealing()


class _ReviewRow(SealedRow):
    """A row of a report's review whose free text is sealed under the report's data key: verifiers
    quote people in comments, questions and answers."""

    if TYPE_CHECKING:
        report: Report

    def data_key_for_sealing(self) -> DataKey:
        return self.report.data_key_for_sealing()


class Assessment(_ReviewRow, Base):
    """One grading of a report: the grade, the source's reliability and the checklist as they stood
    then. A confirmed grade counts only once a different person has signed it off."""

    __tablename__ = "assessments"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    grade: Mapped[Grade] = mapped_column(enum_column(Grade))
    source_reliability: Mapped[SourceReliability] = mapped_column(enum_column(SourceReliability))
    location_verified: Mapped[bool] = mapped_column(Boolean)
    time_verified: Mapped[bool] = mapped_column(Boolean)
    media_authentic: Mapped[bool] = mapped_column(Boolean)
    weapon_checked: Mapped[bool] = mapped_column(Boolean)
    independent_sources: Mapped[int] = mapped_column(Integer)
    assessed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    assessed_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    signed_off_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    signed_off_at: Mapped[dt.datetime | None] = mapped_column(Timestamp())
    # Why the grade was lowered (a downgrade must say why), and what verifiers see of it by default.
    reason = SealedField[str | None](Sensitivity.SENSITIVE)
    reason_anonymized = SealedField[str | None](Sensitivity.SENSITIVE)

    report: Mapped[Report] = relationship(back_populates="assessments")
    assessed_by: Mapped[User] = relationship(foreign_keys=[assessed_by_id])
    signed_off_by: Mapped[User | None] = relationship(foreign_keys=[signed_off_by_id])


class ItemAssessment(Base):
    """A verifier's identification of one item of a report (its platform, its munition or one
    component), kept apart from what was reported: the latest one is in force, every change is in
    the audit log. `attachment_ids` are public ids of the report's own files that show the item."""

    __tablename__ = "item_assessments"
    __table_args__ = (UniqueConstraint("report_id", "item_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    # "platform", "munition" or "component-<component id>" (intake.items.item_key).
    item_key: Mapped[str] = mapped_column(String(40))
    role: Mapped[ItemRole] = mapped_column(enum_column(ItemRole))
    component_id: Mapped[int | None] = mapped_column(ForeignKey("components.id", ondelete="CASCADE"), index=True)
    designation: Mapped[str | None] = mapped_column(String(200))
    manufacturer: Mapped[str | None] = mapped_column(String(200))
    country_of_manufacture: Mapped[str | None] = mapped_column(String(2))
    identification_basis: Mapped[IdentificationBasis | None] = mapped_column(enum_column(IdentificationBasis))
    identification_confidence: Mapped[IdentificationConfidence | None] = mapped_column(
        enum_column(IdentificationConfidence))
    attachment_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    assessed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    assessed_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)

    report: Mapped[Report] = relationship(back_populates="item_assessments")
    assessed_by: Mapped[User] = relationship(foreign_keys=[assessed_by_id])


class ReviewComment(_ReviewRow, Base):
    """A verifier's note on a report, shown in its timeline."""

    __tablename__ = "review_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    text = SealedField[str](Sensitivity.SENSITIVE, default="")
    # Comments may quote people: verifiers see this version by default (made by the workers), sealed
    # as well, since it holds what the anonymizer missed.
    text_anonymized = SealedField[str | None](Sensitivity.SENSITIVE)

    report: Mapped[Report] = relationship(back_populates="comments")
    author: Mapped[User] = relationship()


class InfoRequest(_ReviewRow, Base):
    """A question put to the reporter ("needs more information") and their answer."""

    __tablename__ = "info_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_public_id)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    asked_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    asked_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    answered_at: Mapped[dt.datetime | None] = mapped_column(Timestamp())
    # Files the reporter sent with the answer (the files themselves are the report's attachments).
    files_added: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # When the reporter was told the question waits (intake.notices); None: not (yet) told.
    notified_at: Mapped[dt.datetime | None] = mapped_column(Timestamp())
    # When the sweep last queued the notice again, its first message lost (intake.notices.owed).
    notice_requeued_at: Mapped[dt.datetime | None] = mapped_column(Timestamp())
    question = SealedField[str](Sensitivity.SENSITIVE, default="")
    # What verifiers see by default of the question and the answer (made by the workers, sealed).
    question_anonymized = SealedField[str | None](Sensitivity.SENSITIVE)
    answer_anonymized = SealedField[str | None](Sensitivity.SENSITIVE)
    answer = SealedField[str | None](Sensitivity.SENSITIVE)

    report: Mapped[Report] = relationship(back_populates="info_requests")
    asked_by: Mapped[User] = relationship()


class PipelineJob(Base):
    """The outbox: work the workers owe a report, written in the transaction that created the need.

    A message on the broker is only a hint to start; this row is the promise. It is marked done in
    the same transaction as the work, and the sweep dispatches again any job past its deadline, so
    a message lost with the broker or a worker killed mid-task loses nothing.
    """

    __tablename__ = "pipeline_jobs"
    __table_args__ = (Index("ix_pipeline_jobs_due", "state", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), unique=True)
    state: Mapped[JobState] = mapped_column(enum_column(JobState), default=JobState.PENDING)
    # When the sweep should dispatch this job again if it is still pending.
    due_at: Mapped[dt.datetime] = mapped_column(Timestamp())
    # Runs started (counted before the work, so a worker killed mid-task still counts).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Bumped in SQL each time new work is owed; a run marks the job done only if the generation is
    # still the one it started from, so work owed while it ran is not lost.
    generation: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Exception class of the last failed run: never its message, which may quote report content.
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow, onupdate=utcnow)

    report: Mapped[Report] = relationship(back_populates="job")


class WorkerHeartbeat(Base):
    """Written by every worker process while it runs, read by /healthz."""

    __tablename__ = "worker_heartbeats"

    hostname: Mapped[str] = mapped_column(String(255), primary_key=True)
    seen_at: Mapped[dt.datetime] = mapped_column(Timestamp())


# ---- the scheduler's and the relays' periodic runs (issue 12, part A) -----------------------------


class ScheduledRun(Base):
    """When a periodic duty last ran, read by /healthz: `sweep` (celery beat's sweep; `started_at`
    is when a scheduler last started) and `recovery` (a worker relay's recovery of overdue work)."""

    __tablename__ = "scheduled_runs"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(Timestamp())
    last_run_at: Mapped[dt.datetime | None] = mapped_column(Timestamp())


class AuditEntry(Base):
    """One entry of the append-only, hash-chained audit log (see `intake.audit`).

    It names people by their random public id and role only: never an e-mail, a name or a password.
    `entry_hash` is the SHA-256 of the entry's canonical form, which includes `prev_hash`, the hash
    of the entry before it; changing or removing any entry breaks every link after it.
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_organisation", "organisation_id", "seq"),
                      UniqueConstraint("chain", "chain_seq"))

    # The entry's id in the whole log (the admin page's order and cursor): from a sequence on
    # PostgreSQL, so it may have gaps; before migration 0015f it was the place in the one chain.
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # ---- per-organisation chains (migration 0015f, intake.audit) ----
    # The chain: the organisation's id, 0 for entries of none, -1 for the history written before
    # 0015f. Its position in that chain, 1, 2, 3 … without gaps, is assigned under the chain head's lock.
    chain: Mapped[int] = mapped_column(Integer)
    chain_seq: Mapped[int] = mapped_column(BigInteger)
    # ----
    at: Mapped[dt.datetime] = mapped_column(Timestamp())
    actor_id: Mapped[str | None] = mapped_column(String(36), index=True)
    actor_role: Mapped[str | None] = mapped_column(String(32))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditChainHead(Base):
    """Where an audit chain ends: one row per chain (`id` is the chain's key, see `AuditEntry.chain`).
    Appending locks it, so two transactions never extend a chain from the same entry; `intake audit
    verify` also compares it with the chain's last entry, which shows entries cut off the end."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    entry_hash: Mapped[str] = mapped_column(String(64))


# ---- incidents and duplicate suggestions (design/workflow.md, Incidents) ------------------------

# Where the duplicate finder looks (intake/duplicates.py): a report's neighbours in place and time are
# index range scans, never a scan of the organisation's reports. Declared here, beside the tables
# they serve, rather than inside Report and Attachment.
Index("ix_reports_cell_date", Report.organisation_id, Report.location_cell, Report.occurred_on)
Index("ix_reports_admin2_date", Report.organisation_id, Report.admin2, Report.occurred_on)
Index("ix_reports_locality_date", Report.organisation_id, Report.locality, Report.occurred_on)
Index("ix_attachments_sha256", Attachment.organisation_id, Attachment.sha256)


class Incident(SealedRow, Base):
    """One event that several reports describe, as linked by a verifier of the organisation.

    Its title is made of publishable facts of the report it started from (type, place, date); the
    casualty figures are the ones a verifier reconciled from its reports, with a note that is
    sealed under the incident's own data key (a note may name the people it counts). A merged
    incident is closed and points at the one its reports moved to.
    """

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_open", "organisation_id", "closed_at", "updated_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_public_id, info=P)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), info=P)
    title: Mapped[str] = mapped_column(String(300), info=P)
    killed: Mapped[int | None] = mapped_column(Integer, info=P)
    injured: Mapped[int | None] = mapped_column(Integer, info=P)
    missing: Mapped[int | None] = mapped_column(Integer, info=P)
    reconciliation_note = SealedField[str | None](Sensitivity.SENSITIVE)
    reconciled_at: Mapped[dt.datetime | None] = mapped_column(Timestamp(), info=P)
    reconciled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), info=I_)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow, info=P)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow, info=P)
    closed_at: Mapped[dt.datetime | None] = mapped_column(Timestamp(), info=P)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), info=P)

    data_key_id: Mapped[int] = mapped_column(ForeignKey("data_keys.id"), index=True, info=P)
    data_key: Mapped[DataKey] = relationship()
    links: Mapped[list[IncidentLink]] = relationship(back_populates="incident", order_by="IncidentLink.linked_at")
    merged_into: Mapped[Incident | None] = relationship(remote_side="Incident.id")

    def data_key_for_sealing(self) -> DataKey:
        if self.data_key is None:
            self.data_key = DataKey.create()
        return self.data_key

    def seal_context(self) -> str:
        return f"org:{self.organisation_id}"

    @property
    def reconciled(self) -> bool:
        return self.reconciled_at is not None


class IncidentLink(Base):
    """A report's place in an incident: a report belongs to at most one (its id is the key)."""

    __tablename__ = "incident_links"

    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True,
                                           autoincrement=False)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    linked_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    linked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    incident: Mapped[Incident] = relationship(back_populates="links")
    report: Mapped[Report] = relationship()


class DuplicateSuggestion(Base):
    """A report the workers think describes the same event as another, with why (intake/duplicates.py).

    Made again, replacing the report's earlier suggestions, at every pipeline run of the report; the
    reasons are short codes of `enums.DuplicateReason`, never words from either report.
    """

    __tablename__ = "duplicate_suggestions"
    __table_args__ = (UniqueConstraint("report_id", "candidate_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), info=P)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), info=P)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True, info=P)
    score: Mapped[float] = mapped_column(Float, info=P)
    reasons: Mapped[list[str]] = mapped_column(JSON, info=P)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow, info=P)

    report: Mapped[Report] = relationship(foreign_keys=[report_id])
    candidate: Mapped[Report] = relationship(foreign_keys=[candidate_id])


# ---- sealing bound to row and report (issue 12, item 11; migration 0015d) ------------------------

# Sealed rows without a public id get a random one of their own, named in their seal's associated
# data (see `SealedRow._aad`): an integer id is only known after the INSERT, and the document is
# sealed before it.
for _sealed_table in (Victim, Witness, Link, RedactionCorrection, StateTransition, Assessment, ReviewComment):
    _sealed_table.seal_id = mapped_column(  # type: ignore[attr-defined]
        "seal_id", String(36), default=new_public_id, info=P)


# ---- erasure epochs (issue 12, item 10; migration 0015d) -----------------------------------------


@event.listens_for(Session, "before_flush")
def _wrap_new_keys_under_epoch(session: Session, _context: Any, _instances: Any) -> None:
    """New data keys (made master-wrapped by `DataKey.create`, or sealed just now) are wrapped under
    today's erasure epoch before they are first written. Registered after `_seal_before_flush`."""
    fresh = [obj for obj in session.new if isinstance(obj, DataKey) and obj.epoch_id is None
             and obj.epoch is None and obj.wrapped is not None]
    if not fresh:
        return
    epoch = KeyEpoch.current(session)
    for key in fresh:
        key.wrap_under(epoch)


# ---- resumable uploads (issue 13, item 1; migration 0015g) ---------------------------------------


class ResumableUpload(SealedRow, Base):
    """A file arriving in pieces over tus 1.0.0 (intake.uploads) for a report already filed.

    The bytes received so far are sealed with the report's data key in a partial file
    (`storage_name`, under the upload folder's `partial/`); `upload_offset` says how many of them
    count and `stored_bytes` how long the sealed file is that holds them, so that whatever a
    crashed request appended beyond it is cut off. Its name is sealed like an attachment's.
    """

    __tablename__ = "resumable_uploads"
    __table_args__ = (Index("ix_resumable_uploads_expires", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_public_id, info=P)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), info=P)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True, info=I_)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True, info=P)
    length: Mapped[int] = mapped_column(BigInteger, info=P)
    upload_offset: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", info=P)
    stored_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", info=P)
    storage_name: Mapped[str] = mapped_column(String(64), unique=True, info=S)
    # open, complete, terminated or refused (expired is open past `expires_at`).
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open", info=P)
    original_filename = SealedField[str | None](Sensitivity.SENSITIVE)
    # What the uploader said of the file (Upload-Metadata `description`, `captured_at`, ISO 8601),
    # given to the attachment at completion, as the attachment endpoint's form fields are.
    description = SealedField[str | None](Sensitivity.SENSITIVE)
    captured_at_text = SealedField[str | None](Sensitivity.SENSITIVE)
    attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachments.id", ondelete="SET NULL"), info=P)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow, info=P)
    expires_at: Mapped[dt.datetime] = mapped_column(Timestamp(), info=P)

    report: Mapped[Report] = relationship()
    attachment: Mapped[Attachment | None] = relationship()

    def data_key_for_sealing(self) -> DataKey:
        return self.report.data_key_for_sealing()


# ---- ODK Collect and KoboCollect (issue 15; migration 0016h) -------------------------------------


class DeviceToken(Base):
    """A phone's credential for OpenRosa (intake.openrosa): a random token inside the server URL
    typed into Collect, as ODK Central's app users have it. Bound to one reporter account, hence
    one organisation; only its SHA-256 is stored, and it is revoked, never deleted (its history).
    A staff account's "ODK password" (HTTP Basic, `<base>/openrosa`) is a row of its own with no
    token and an Argon2 `password_hash` instead, found by its printed prefix."""

    __tablename__ = "device_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_public_id, info=P)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True, info=I_)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True, info=P)
    # What the administrator calls the phone ("Phone 3"): no person's name is asked for.
    name: Mapped[str] = mapped_column(String(100), info=P)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, info=P)
    password_hash: Mapped[str | None] = mapped_column(String(255), info=P)
    prefix: Mapped[str] = mapped_column(String(12), info=P)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow, info=P)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(Timestamp(), info=P)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(Timestamp(), info=P)

    user: Mapped[User] = relationship()


class OdkInstance(SealedRow, Base):
    """One XForm instance as Collect sent it: the report it became and the instance XML itself, an
    original sealed under the report's data key, with its SHA-256 (the same instance ID with other
    XML is a conflict). An edit in Collect (`meta/deprecatedID`) becomes a new report that names
    the one it replaces, which stays as a verifier saw it."""

    __tablename__ = "odk_instances"
    __table_args__ = (UniqueConstraint("reporter_id", "instance_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_public_id, info=P)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), unique=True, info=P)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("users.id"), info=I_)
    device_token_id: Mapped[int | None] = mapped_column(ForeignKey("device_tokens.id"), info=P)
    instance_id: Mapped[str] = mapped_column(String(64), info=P)
    form_version: Mapped[str] = mapped_column(String(64), info=P)
    xml_sha256: Mapped[str] = mapped_column(String(64), info=P)
    xml_size: Mapped[int] = mapped_column(Integer, info=P)
    deprecated_id: Mapped[str | None] = mapped_column(String(64), info=P)
    replaces_report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id", ondelete="SET NULL"),
                                                           index=True, info=P)
    received_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow, info=P)
    xml = SealedField[str](Sensitivity.SENSITIVE, default="")

    report: Mapped[Report] = relationship(foreign_keys=[report_id])
    replaces: Mapped[Report | None] = relationship(foreign_keys=[replaces_report_id])

    def data_key_for_sealing(self) -> DataKey:
        return self.report.data_key_for_sealing()


# ---- evidence packs (issue 17, item 5; migration 0017d) -------------------------------------------


class PackJob(SealedRow, Base):
    """An evidence pack asked for on the web page and built by a worker (intake.evidence.jobs).

    The queue carries only its id. The selector and tier are public facts; the reason typed for a
    restricted pack is sealed under the job's own data key (it is in the audit log as well, where
    security.md wants the reasons for reveals). The finished pack is a zip of the bag, stored sealed
    with the same key under the instance folder (`storage_name`), since a restricted pack holds
    originals and exact places.
    """

    __tablename__ = "pack_jobs"
    __table_args__ = (Index("ix_pack_jobs_organisation", "organisation_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_public_id, info=P)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), info=P)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), info=I_)
    selector_kind: Mapped[str] = mapped_column(String(16), info=P)
    selector_value: Mapped[str] = mapped_column(String(200), info=P)
    date_from: Mapped[dt.date | None] = mapped_column(Date, info=P)
    date_to: Mapped[dt.date | None] = mapped_column(Date, info=P)
    tier: Mapped[str] = mapped_column(String(16), info=P)
    reason = SealedField[str | None](Sensitivity.SENSITIVE)
    # queued, running, done, failed; how far a running build is (0-100) and at which step.
    state: Mapped[str] = mapped_column(String(16), default="queued", server_default="queued", info=P)
    progress: Mapped[int] = mapped_column(Integer, default=0, server_default="0", info=P)
    step: Mapped[str | None] = mapped_column(String(32), info=P)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0", info=P)
    # Why a build failed, in the generator's words (never a value of a report).
    error: Mapped[str | None] = mapped_column(String(300), info=P)
    bag_name: Mapped[str | None] = mapped_column(String(200), info=P)
    content_sha256: Mapped[str | None] = mapped_column(String(64), info=P)
    incidents: Mapped[int | None] = mapped_column(Integer, info=P)
    storage_name: Mapped[str | None] = mapped_column(String(64), unique=True, info=S)
    size: Mapped[int | None] = mapped_column(BigInteger, info=P)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow, info=P)
    started_at: Mapped[dt.datetime | None] = mapped_column(Timestamp(), info=P)
    finished_at: Mapped[dt.datetime | None] = mapped_column(Timestamp(), info=P)

    data_key_id: Mapped[int] = mapped_column(ForeignKey("data_keys.id"), index=True, info=P)
    data_key: Mapped[DataKey] = relationship()
    requested_by: Mapped[User] = relationship()

    def data_key_for_sealing(self) -> DataKey:
        if self.data_key is None:
            self.data_key = DataKey.create()
        return self.data_key

    def seal_context(self) -> str:
        return f"org:{self.organisation_id}:pack"


class OdkFormKey(Base):
    """An organisation's key pair for its encrypted form (ODK's encrypted-form format): Collect
    encrypts each finished instance on the phone for `public_key`, and only a worker opens it.

    The row is written by an administrator's request with no key yet; a worker (or the CLI, a
    process of its own) makes the pair and fills it in (`intake.openrosa.decrypt`). The private key
    is stored only wrapped by the master keys (Fernet, as accounts' secrets) and is unwrapped in the
    workers alone: no web view has a path to it. The newest ready key is the one the form carries."""

    __tablename__ = "odk_form_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_public_id, info=P)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True, info=P)
    requested_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow, info=P)
    ready_at: Mapped[dt.datetime | None] = mapped_column(Timestamp(), info=P)
    # The RSA public key as the XForm carries it: base64 of its DER SubjectPublicKeyInfo.
    public_key: Mapped[str | None] = mapped_column(Text, info=P)
    private_key_wrapped: Mapped[bytes | None] = mapped_column(LargeBinary, info={"sensitivity": "sealed"})
    master_key_id: Mapped[str | None] = mapped_column(String(16), info=P)


class OdkEncryptedSubmission(Base):
    """An encrypted instance as Collect sent it, kept unopened until a worker decrypts and files it.

    The manifest (the XML part: the RSA-encrypted AES key, the file names, the signature) and every
    `.enc` part are sealed under `data_key` and hashed; the receipt given to the phone is fixed here
    and becomes the report's. (reporter, instance ID) is unique: a resend or a later part of a split
    submission finds this row. Once filed, the parts and their key are discarded: the report holds
    the decrypted originals under its own data key."""

    __tablename__ = "odk_encrypted_submissions"
    __table_args__ = (UniqueConstraint("reporter_id", "instance_id"), Index("ix_odk_encrypted_due", "due_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_public_id, info=P)
    receipt_code: Mapped[str] = mapped_column(String(16), unique=True, info=P)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True, info=P)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("users.id"), info=I_)
    device_token_id: Mapped[int | None] = mapped_column(ForeignKey("device_tokens.id"), info=P)
    form_key_id: Mapped[int] = mapped_column(ForeignKey("odk_form_keys.id"), info=P)
    instance_id: Mapped[str] = mapped_column(String(64), info=P)
    form_version: Mapped[str] = mapped_column(String(64), info=P)
    manifest_sha256: Mapped[str] = mapped_column(String(64), info=P)
    manifest_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, info={"sensitivity": "sealed"})
    data_key_id: Mapped[int | None] = mapped_column(ForeignKey("data_keys.id"), info=P)
    received_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow, info=P)
    # When a worker should decrypt it (again): set once every part is in; NULL once filed.
    due_at: Mapped[dt.datetime | None] = mapped_column(Timestamp(), info=P)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0", info=P)
    # Why the last decryption failed, in a few words of ours: never the content.
    last_error: Mapped[str | None] = mapped_column(String(200), info=P)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id", ondelete="SET NULL"), unique=True,
                                                  info=P)

    data_key: Mapped[DataKey | None] = relationship()
    form_key: Mapped[OdkFormKey] = relationship()
    parts: Mapped[list[OdkEncryptedPart]] = relationship(back_populates="submission", cascade="all, delete-orphan",
                                                         order_by="OdkEncryptedPart.id")


class OdkEncryptedPart(Base):
    """One `.enc` file of an encrypted submission, stored sealed as it came (never opened by the web)."""

    __tablename__ = "odk_encrypted_parts"
    __table_args__ = (UniqueConstraint("submission_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("odk_encrypted_submissions.id", ondelete="CASCADE"),
                                               info=P)
    name: Mapped[str] = mapped_column(String(255), info=P)
    storage_name: Mapped[str | None] = mapped_column(String(64), unique=True, info=P)
    sha256: Mapped[str] = mapped_column(String(64), info=P)
    size: Mapped[int] = mapped_column(Integer, info=P)

    submission: Mapped[OdkEncryptedSubmission] = relationship(back_populates="parts")


# ---- transfer records (intake/transfers) --------------------------------------------------------


class Transfer(Base):
    """A public fact about an arms transfer, recorded by a coordinator of the organisation: who sent
    what to whom, for which authorised end user, when, and the public record it is known from. Every
    field is publishable (it came from a public source); nothing in it names a victim or a witness.

    `catalogue_name` is the weapon catalogue's entry the designation matched when it was recorded
    (None: no entry matched): the key the diversion indicator compares reports' items by.
    """

    __tablename__ = "transfers"
    __table_args__ = (Index("ix_transfers_organisation", "organisation_id", "catalogue_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_public_id, info=P)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), info=P)
    exporting_state: Mapped[str] = mapped_column(String(2), info=P)
    importing_state: Mapped[str] = mapped_column(String(2), info=P)
    end_user: Mapped[str] = mapped_column(String(200), info=P)
    # The end user's state where it is not the importing state (None: the importing state).
    end_user_state: Mapped[str | None] = mapped_column(String(2), info=P)
    designation: Mapped[str] = mapped_column(String(200), info=P)
    catalogue_name: Mapped[str | None] = mapped_column(String(200), info=P)
    item_kind: Mapped[TransferItemKind] = mapped_column(enum_column(TransferItemKind), info=P)
    quantity: Mapped[int | None] = mapped_column(Integer, info=P)
    # The first day of the period the source gives (2020-05-01 for "May 2020") and its precision.
    transfer_date: Mapped[dt.date] = mapped_column(Date, info=P)
    date_precision: Mapped[TransferDatePrecision] = mapped_column(enum_column(TransferDatePrecision), info=P)
    source_kind: Mapped[TransferSourceKind] = mapped_column(enum_column(TransferSourceKind), info=P)
    source_citation: Mapped[str] = mapped_column(String(1000), info=P)
    source_url: Mapped[str | None] = mapped_column(String(2000), info=P)
    notes: Mapped[str | None] = mapped_column(Text, info=P)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow, info=P)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), info=I_)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow, info=P)
