"""Enumerations of the domain, shared by models, forms, API schema and templates.

Each enum's value is the ASCII key stored in the database and used on the wire; its label is the
translated text shown to people. A new value is added here and nowhere else.
"""

from __future__ import annotations

import enum
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext


class LabelledEnum(str, enum.Enum):
    """A string enum whose members carry a translatable label."""

    label: Any  # set per member in __new__

    def __new__(cls, value: str, label: object = None) -> LabelledEnum:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label if label is not None else value  # type: ignore[attr-defined]
        return member

    def __str__(self) -> str:
        return str(self.value)

    @classmethod
    def choices(cls) -> list[tuple[str, object]]:
        """Pairs of (value, label) for select fields."""
        return [(m.value, m.label) for m in cls]  # type: ignore[attr-defined]

    @classmethod
    def values(cls) -> list[str]:
        return [m.value for m in cls]


class Role(LabelledEnum):
    REPORTER = "reporter", _l("Reporter")
    VERIFIER = "verifier", _l("Verifier")
    COORDINATOR = "coordinator", _l("Coordinator")
    ADMIN = "admin", _l("Administrator")


# Roles that handle other people's reports (or run the installation): they must pass a second factor.
PRIVILEGED_ROLES = (Role.VERIFIER, Role.COORDINATOR, Role.ADMIN)


class Channel(LabelledEnum):
    WEB = "web", _l("Web form")
    API = "api", _l("JSON API")
    ODK = "odk", _l("ODK Collect")


class ReportState(LabelledEnum):
    RECEIVED = "received", lazy_pgettext("report state", "Received")
    TRIAGE = "triage", _l("Waiting for review")
    IN_REVIEW = "in_review", _l("In review")
    NEEDS_INFO = "needs_info", _l("More information needed")
    VERIFIED = "verified", _l("Verified")
    REJECTED = "rejected", _l("Rejected")
    DUPLICATE = "duplicate", _l("Duplicate")


class Grade(LabelledEnum):
    """What the evidence supports about civilian harm (design/workflow.md, Grading), strongest first."""

    CONFIRMED = "confirmed", lazy_pgettext("grade", "Confirmed")
    FAIR = "fair", _l("Fair")
    WEAK = "weak", _l("Weak")
    CONTESTED = "contested", _l("Contested")
    DISCOUNTED = "discounted", _l("Discounted")

    @property
    def rank(self) -> int:
        """Higher is stronger: a new grade of lower rank than the one in force is a downgrade."""
        return len(Grade) - list(Grade).index(self)


class SourceReliability(LabelledEnum):
    """Reliability of the source, on the A–F scale."""

    A = "A", _l("A — reliable")
    B = "B", _l("B — usually reliable")
    C = "C", _l("C — fairly reliable")
    D = "D", _l("D — not usually reliable")
    E = "E", _l("E — unreliable")
    F = "F", _l("F — reliability cannot be judged")


class QueueTab(LabelledEnum):
    """The tabs of the verifiers' queue."""

    TRIAGE = "triage", _l("Triage")
    MINE = "mine", _l("Mine")
    SIGN_OFF = "sign_off", _l("Awaiting sign-off")
    NEEDS_INFO = "needs_info", _l("Needs info")
    VERIFIED = "verified", _l("Verified")
    REJECTED = "rejected", _l("Rejected")


class QueueSort(LabelledEnum):
    PRIORITY = "priority", _l("Priority (casualties, then waiting longest)")
    NEWEST = "newest", _l("Newest received")
    OLDEST = "oldest", _l("Oldest received")
    OCCURRED = "occurred", _l("Date of the event, latest first")


class DatePrecision(LabelledEnum):
    EXACT = "exact", _l("Exact day")
    WEEK = "week", _l("Within a week")
    MONTH = "month", _l("Within a month")


class LocationPrecision(LabelledEnum):
    EXACT = "exact", _l("Exact point")
    KM1 = "within_1km", _l("Within 1 km")
    NEIGHBOURHOOD = "neighbourhood", _l("Neighbourhood")
    TOWN = "town", _l("Town")
    DISTRICT = "district", _l("District")


class IncidentType(LabelledEnum):
    AIRSTRIKE = "airstrike", _l("Airstrike")
    DRONE_STRIKE = "drone_strike", _l("Drone strike")
    SHELLING = "shelling", _l("Shelling / artillery")
    ROCKET = "rocket", _l("Rocket / MLRS")
    MISSILE = "missile", _l("Missile")
    LOITERING_MUNITION = "loitering_munition", _l("Loitering munition")
    LANDMINE_UXO = "landmine_uxo", _l("Landmine / UXO")
    CLUSTER_MUNITION = "cluster_munition", _l("Cluster munition")
    IED = "ied", _l("IED")
    SMALL_ARMS = "small_arms", _l("Small arms fire")
    OTHER = "other", _l("Other")


class HarmGroup(LabelledEnum):
    """The demographic split of every casualty count."""

    MEN = "men", _l("Men")
    WOMEN = "women", _l("Women")
    BOYS = "boys", _l("Boys")
    GIRLS = "girls", _l("Girls")
    UNKNOWN = "unknown", _l("Unknown")


class Harm(LabelledEnum):
    KILLED = "killed", _l("Killed")
    INJURED = "injured", _l("Injured")
    MISSING = "missing", _l("Missing")


class Sex(LabelledEnum):
    FEMALE = "female", _l("Female")
    MALE = "male", _l("Male")
    UNKNOWN = "unknown", _l("Unknown")


class AgeBand(LabelledEnum):
    CHILD_0_4 = "0-4", _l("0–4")
    CHILD_5_11 = "5-11", _l("5–11")
    CHILD_12_17 = "12-17", _l("12–17")
    ADULT_18_29 = "18-29", _l("18–29")
    ADULT_30_44 = "30-44", _l("30–44")
    ADULT_45_59 = "45-59", _l("45–59")
    ADULT_60 = "60+", _l("60 and over")
    UNKNOWN = "unknown", _l("Unknown")

    @classmethod
    def for_age(cls, age: int) -> AgeBand:
        """The band an exact age falls in."""
        for upper, band in ((4, cls.CHILD_0_4), (11, cls.CHILD_5_11), (17, cls.CHILD_12_17),
                            (29, cls.ADULT_18_29), (44, cls.ADULT_30_44), (59, cls.ADULT_45_59)):
            if age <= upper:
                return band
        return cls.ADULT_60


class CivilianStatus(LabelledEnum):
    CIVILIAN = "civilian", _l("Civilian")
    COMBATANT = "combatant", _l("Combatant")
    UNKNOWN = "unknown", _l("Unknown")


class Occupation(LabelledEnum):
    NONE_GIVEN = "none_given", _l("Not given")
    MEDICAL = "medical", _l("Medical worker")
    JOURNALIST = "journalist", _l("Journalist")
    AID_WORKER = "aid_worker", _l("Aid worker")
    CIVIL_DEFENCE = "civil_defence", _l("Civil defence / rescuer")
    TEACHER = "teacher", _l("Teacher")
    STUDENT = "student", _l("Student / pupil")
    FARMER = "farmer", _l("Farmer")
    RELIGIOUS = "religious", _l("Religious personnel")
    OTHER = "other", _l("Other")


class ObjectKind(LabelledEnum):
    HOME = "home", _l("Home")
    SCHOOL = "school", _l("School")
    MEDICAL = "medical_facility", _l("Medical facility")
    WORSHIP = "place_of_worship", _l("Place of worship")
    MARKET = "market", _l("Market")
    WATER = "water", _l("Water")
    POWER = "power", _l("Power")
    SHELTER = "shelter", _l("Shelter")
    VEHICLE = "vehicle", _l("Vehicle")
    FARMLAND = "farmland", _l("Farmland")
    OTHER = "other", _l("Other")


class DamageExtent(LabelledEnum):
    DESTROYED = "destroyed", _l("Destroyed")
    DAMAGED = "damaged", _l("Damaged")


class DeliveryPlatform(LabelledEnum):
    UNKNOWN = "unknown", _l("Unknown")
    AIRCRAFT = "aircraft", _l("Aircraft")
    DRONE = "drone", _l("Drone / UAV")
    ARTILLERY = "artillery", _l("Artillery")
    MLRS = "mlrs", _l("MLRS")
    GROUND_VEHICLE = "ground_vehicle", _l("Ground vehicle")
    SHIP = "ship", _l("Ship")


class YesNoUnknown(LabelledEnum):
    UNKNOWN = "unknown", _l("Unknown")
    YES = "yes", _l("Yes")
    NO = "no", _l("No")


class ComponentKind(LabelledEnum):
    TARGETING_SENSOR = "targeting_sensor", _l("Targeting sensor")
    GUIDANCE_KIT = "guidance_kit", _l("Guidance kit")
    NAVIGATION = "navigation", _l("Navigation / GNSS module")
    ENGINE = "engine", _l("Engine")
    FUZE = "fuze", _l("Fuze")
    WARHEAD = "warhead", _l("Warhead")
    AIRFRAME = "airframe", _l("Airframe")
    DATALINK = "datalink", _l("Datalink / communications")
    ELECTRONICS = "electronics", _l("Electronics / chips")
    OTHER = "other", _l("Other")


class IdentificationBasis(LabelledEnum):
    REMNANT_PHOTOGRAPHED = "remnant_photographed", _l("Remnant photographed")
    VIDEO_OVERLAY = "video_overlay", _l("Video overlay")
    WITNESS_DESCRIPTION = "witness_description", _l("Witness description")
    OFFICIAL_STATEMENT = "official_statement", _l("Official statement")
    EXPERT_ASSESSMENT = "expert_assessment", _l("Expert assessment")


class IdentificationConfidence(LabelledEnum):
    CONFIRMED = "confirmed", lazy_pgettext("identification confidence", "Confirmed")
    PROBABLE = "probable", _l("Probable")
    POSSIBLE = "possible", _l("Possible")


class ManufactureDateBasis(LabelledEnum):
    """What a component's date of manufacture rests on (design/evidence.md, item fields)."""

    DATA_PLATE = "data_plate", _l("Data plate")
    DATE_CODE = "date_code", _l("Stamped date code")
    DOCUMENT = "document", _l("Document (shipping, packaging, manual)")
    ASSESSED = "assessed", _l("Assessed by an expert")


class ItemRole(LabelledEnum):
    """The place of an identified item in a report: its platform, its munition or one of its components."""

    PLATFORM = "platform", _l("Platform")
    MUNITION = "munition", _l("Munition")
    COMPONENT = "component", _l("Component")


class TransferItemKind(LabelledEnum):
    """What a transfer record moved (intake/transfers): the kinds of the weapon catalogue."""

    PLATFORM = "platform", _l("Platform")
    MUNITION = "munition", _l("Munition")
    COMPONENT = "component", _l("Component")


class TransferDatePrecision(LabelledEnum):
    """How much of a transfer's date the public source gives."""

    DAY = "day", _l("Day")
    MONTH = "month", lazy_pgettext("date precision", "Month")
    YEAR = "year", lazy_pgettext("date precision", "Year")


class TransferSourceKind(LabelledEnum):
    """The public record a transfer is known from (design/evidence.md, "What moved a government")."""

    PERMIT_LIST = "permit_list", _l("Permit list released under access-to-information")
    ARMS_SALE_NOTICE = "arms_sale_notice", _l("Arms-sale notice")
    ATT_REPORT = "att_report", _l("Arms Trade Treaty annual report line")
    UNROCA = "unroca", _l("UN Register of Conventional Arms (UNROCA) line")
    EU_REPORT = "eu_report", _l("EU annual report on arms exports line")
    OTHER = "other", _l("Other public source")


class SourceType(LabelledEnum):
    OWN_OBSERVATION = "own_observation", _l("Own observation")
    EYEWITNESS = "eyewitness", _l("Eyewitness")
    VICTIM = "victim", _l("Victim")
    FAMILY = "family", _l("Family member")
    MEDICAL_STAFF = "medical_staff", _l("Medical staff")
    LOCAL_OFFICIAL = "local_official", _l("Local official")
    MEDIA_REPORT = "media_report", _l("Media report")
    SOCIAL_MEDIA = "social_media", _l("Social media")


class Consent(LabelledEnum):
    INTERNAL = "internal_only", _l("Internal use only")
    ANONYMIZED = "share_anonymized", _l("Share anonymized")
    PARTNERS = "share_named_partners", _l("Share with named partners")
    PUBLIC = "public", _l("Public")


class Risk(LabelledEnum):
    LOW = "low", _l("Low")
    MEDIUM = "medium", _l("Medium")
    HIGH = "high", _l("High")


class AttachmentStatus(LabelledEnum):
    STORED = "stored", _l("Stored, not yet checked")
    INSPECTED = "inspected", _l("Checked")
    QUARANTINED = "quarantined", _l("Held back: failed the check")
    ERASED = "erased", _l("Original erased")


class JobState(LabelledEnum):
    PENDING = "pending", _l("Waiting for a worker")
    DONE = "done", _l("Done")
    DEAD = "dead", _l("Failed repeatedly: held for a coordinator")


class DuplicateReason(LabelledEnum):
    """Why the workers suggest that two reports describe the same event (intake/duplicates.py)."""

    SAME_MEDIA = "same_media", _l("The same file (identical SHA-256)")
    SAME_TIME = "same_time", _l("Same time, within both reports' date precision")
    NEARBY = "nearby", _l("Nearby, within both reports' location precision")
    SAME_AREA = "same_area", _l("Same district or locality (no map point to compare)")
    SAME_TYPE = "same_type", _l("Same incident type")
    SAME_PLATFORM = "same_platform", _l("Same platform model")
    SAME_MUNITION = "same_munition", _l("Same munition model")
    SIMILAR_ACCOUNT = "similar_account", _l("Similar anonymized account")


class Sensitivity(str, enum.Enum):
    """Sensitivity class of a field (see design/report.md): where its value may go."""

    PUBLISHABLE = "P"
    SENSITIVE = "S"
    IDENTIFYING = "I"


class AuditAction(LabelledEnum):
    """What an audit log entry records. `audit.record` takes any string, so a new kind of entry is
    added here for its label and the admin page's filter; entries of unknown kinds still show."""

    SIGN_IN = "auth.sign_in", _l("Signed in")
    PASSWORD_ACCEPTED = "auth.password_accepted", _l("Password accepted, second factor asked")
    SIGN_IN_FAILED = "auth.sign_in_failed", _l("Sign-in failed")
    LOCKED = "auth.locked", _l("Sign-in locked after failed attempts")
    SIGN_OUT = "auth.sign_out", _l("Signed out")
    IDLE_TIMEOUT = "auth.idle_timeout", _l("Signed out after being idle")
    SECOND_FACTOR_ENROLLED = "2fa.enrolled", _l("Second factor enrolled")
    SECOND_FACTOR_RESET = "2fa.reset", _l("Second factor reset")
    RECOVERY_CODE_USED = "2fa.recovery_code_used", _l("Recovery code used")
    USER_CREATED = "user.created", _l("User created")
    ROLE_CHANGED = "user.role_changed", _l("Role changed")
    USER_UNLOCKED = "user.unlocked", _l("Sign-in lock lifted")
    # Account life cycle and server-side sessions.
    PASSWORD_CHANGED = "user.password_changed", _l("Password changed")
    USER_DEACTIVATED = "user.deactivated", _l("User deactivated")
    USER_ACTIVATED = "user.activated", _l("User activated again")
    TOKEN_CREATED = "token.created", _l("API token created")
    TOKEN_REVOKED = "token.revoked", _l("API token revoked")
    SESSION_EXPIRED = "auth.session_expired", _l("Signed out at the end of the session's lifetime")
    SIGN_IN_THROTTLED = "auth.sign_in_throttled", _l("Sign-in attempts slowed down after wrong passwords")
    REPORT_REVEALED = "report.revealed", _l("Original fields of a report revealed")
    ORIGINAL_DOWNLOADED = "report.original_downloaded", _l("Original file downloaded")
    ORIGINALS_ERASED = "report.originals_erased", _l("Originals of a report erased")
    INCIDENT_CREATED = "incident.created", _l("Incident created")
    INCIDENT_REPORT_LINKED = "incident.report_linked", _l("Report linked to an incident")
    INCIDENT_REPORT_UNLINKED = "incident.report_unlinked", _l("Report unlinked from an incident")
    INCIDENTS_MERGED = "incident.merged", _l("Incidents merged")
    INCIDENT_FIGURES_RECONCILED = "incident.figures_reconciled", _l("Casualty figures of an incident reconciled")
    EXPORTED = "export.csv", _l("Reports exported")
    REPORT_CLAIMED = "report.claimed", _l("Report claimed for review")
    CLAIM_RELEASED = "report.claim_released", _l("Claim released")
    CLAIM_REASSIGNED = "report.claim_reassigned", _l("Claim reassigned")
    CLAIM_EXPIRED = "report.claim_expired", _l("Idle claim returned to triage")
    CHECKLIST_SAVED = "report.checklist_saved", _l("Checklist saved")
    REPORT_GRADED = "report.graded", _l("Report graded")
    GRADE_SIGNED_OFF = "report.grade_signed_off", _l("Confirmed grade signed off")
    SIGN_OFF_DECLINED = "report.sign_off_declined", _l("Sign-off declined")
    REPORT_DOWNGRADED = "report.downgraded", _l("Grade lowered")
    REPORT_REJECTED = "report.rejected", _l("Report rejected")
    REPORT_REOPENED = "report.reopened", _l("Report reopened")
    REPORT_DUPLICATE = "report.duplicate", _l("Report marked as a duplicate")
    COMMENT_ADDED = "report.commented", _l("Comment added")
    INFO_REQUESTED = "report.info_requested", _l("Reporter asked for more information")
    INFO_ANSWERED = "report.info_answered", _l("Reporter answered a question")
    KEYS_ROTATED = "keys.rotated", _l("Master key rotated")
    KEYS_RETIRED = "keys.retired", _l("Old master keys retired")
    ANONYMIZATION_CORRECTED = "report.anonymization_corrected", _l("Anonymization corrected")
    COPY_SERVED = "report.copy_served", _l("Cleaned copy of a file shown or downloaded")
    PROCESSING_RETRIED = "report.processing_retried", _l("Held processing of a report retried")
    FILING_RETRIED = "submission.filing_retried", _l("Held filing of a submission retried")
    ATTACHMENT_ADDED = "report.attachment_added", _l("File added to a filed report")
    RECORD_INTEGRITY_FAILED = "record.integrity_failed", _l("A stored record failed its integrity check")
    ITEM_ASSESSED = "report.item_assessed", _l("Identification of an item confirmed or corrected")
    # Transfer records and the user of a weapon in the conflict (intake/transfers).
    TRANSFER_CREATED = "transfer.created", _l("Transfer record created")
    TRANSFER_UPDATED = "transfer.updated", _l("Transfer record changed")
    TRANSFER_DELETED = "transfer.deleted", _l("Transfer record deleted")
    USED_BY_ASSESSED = "report.used_by_assessed", _l("User of the weapon assessed")
    # ODK Collect and KoboCollect (intake/openrosa).
    DEVICE_CREATED = "device.created", _l("Device token for ODK Collect created")
    DEVICE_REVOKED = "device.revoked", _l("Device token for ODK Collect revoked")
    ODK_EDIT_RECEIVED = "report.odk_edit_received", _l("Edited form from ODK Collect received as a new report")
    # Evidence packs (intake/evidence).
    PACK_REQUESTED = "pack.requested", _l("Evidence pack requested")
    PACK_BUILT = "pack.built", _l("Evidence pack built")
    PACK_FAILED = "pack.failed", _l("Evidence pack could not be built")
    PACK_DOWNLOADED = "pack.downloaded", _l("Evidence pack downloaded")
    ODK_FORM_ENCRYPTED = "organisation.odk_form_encrypted", _l("Form for ODK Collect switched to encrypted")
