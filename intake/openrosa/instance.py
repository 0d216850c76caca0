"""A submitted XForm instance read back into the report it describes.

The XML is parsed with defusedxml (no entities, no external references: a phone, or whoever holds
its token, sends it). Where each answer is, and which key of `schema.ReportIn` it fills, comes from
the form's own definition (`xform.questions`), so the two cannot drift apart; validation is the
schema's, as for the web form and the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element  # noqa: S405 (only the type; parsing is defusedxml's)

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from ..schema import SUBMISSION_ID_RE
from . import xform
from .xform import Group, Question

# An instance is text: a report's largest answers (the account, 50,000 characters) fit many times.
MAX_INSTANCE_BYTES = 2 * 1024 * 1024


class InstanceRefused(ValueError):
    """An instance that cannot be read; `status` is the HTTP answer (400 bad XML, 404 unknown form)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class MediaAnswer:
    """A file the instance names (its part in the submission has this field name)."""

    filename: str
    description: str | None


@dataclass(frozen=True)
class Instance:
    form_id: str
    form_version: str
    instance_id: str
    deprecated_id: str | None
    report: dict[str, Any]  # for ReportIn.model_validate
    media: list[MediaAnswer] = field(default_factory=list)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: Element, name: str) -> Element | None:
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def _children(element: Element, name: str) -> list[Element]:
    return [child for child in element if _local(child.tag) == name]


def _text(element: Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def parse(xml: bytes) -> Instance:
    """The instance's form, IDs, report and files; `InstanceRefused` says what is wrong."""
    if len(xml) > MAX_INSTANCE_BYTES:
        raise InstanceRefused("The form's XML is larger than any report can be.", status=413)
    try:
        root = SafeET.fromstring(xml, forbid_dtd=True)
    except (SafeET.ParseError, DefusedXmlException, ValueError):
        raise InstanceRefused("The submission's XML could not be read (xml_submission_file is not well-formed XML, "
                              "or uses entities or a DTD).") from None
    form_id = root.get("id")
    if form_id != xform.FORM_ID:
        raise InstanceRefused("This server has no such form: download the form list again.", status=404)
    meta = _child(root, "meta")
    instance_id = _text(_child(meta, "instanceID")) if meta is not None else None
    if instance_id is None or not SUBMISSION_ID_RE.fullmatch(instance_id):
        raise InstanceRefused("The form has no usable meta/instanceID (8–64 letters, digits or . _ : -).")
    deprecated_id = _text(_child(meta, "deprecatedID")) if meta is not None else None
    if deprecated_id is not None and not SUBMISSION_ID_RE.fullmatch(deprecated_id):
        raise InstanceRefused("The form's meta/deprecatedID is not usable (8–64 letters, digits or . _ : -).")
    report: dict[str, Any] = {}
    media: list[MediaAnswer] = []
    names = xform.catalogue_names()
    for item in xform.questions():
        _read(root, item, report, media, names)
    return Instance(form_id=form_id, form_version=root.get("version") or "", instance_id=instance_id,
                    deprecated_id=deprecated_id, report=report, media=media)


def _read(parent: Element, item: Question | Group, into: dict[str, Any], media: list[MediaAnswer],
          names: dict[str, dict[str, str]]) -> None:
    if isinstance(item, Group):
        if item.repeat:
            rows = _children(parent, item.name)
            if item.key is None:  # the files
                for row in rows:
                    description = _text(_child(row, "file_description"))
                    for name in xform.MEDIA_QUESTIONS:
                        if (filename := _text(_child(row, name))) is not None:
                            media.append(MediaAnswer(filename, description))
                return
            values = []
            for row in rows:
                found: dict[str, Any] = {}
                for child in item.children:
                    _read(row, child, found, media, names)
                if found:
                    values.append(found)
            if values:
                into[item.key] = values
            return
        element = _child(parent, item.name)
        if element is None:
            return
        target = into.setdefault(item.key, {}) if item.key else into
        for child in item.children:
            _read(element, child, target, media, names)
        return
    value = _text(_child(parent, item.name))
    if item.type == "geopoint":
        if value is not None:
            parts = value.split()
            try:
                into["latitude"], into["longitude"] = float(parts[0]), float(parts[1])
            except (IndexError, ValueError):
                into["latitude"] = value  # the schema says what is wrong with it
        return
    if item.key is None or value is None:
        return
    list_name = item.type.removeprefix("select_one ") if item.type.startswith("select_one ") else None
    if list_name in names:
        if value == xform.OTHER:
            other = _text(_child(parent, f"{item.name}_{xform.OTHER}"))
            if other is None:
                return
            value = other
        else:
            value = names[list_name].get(value, value)
    if list_name == "yes_no":
        into[item.key] = value == "yes"
        return
    if item.type == "time":
        value = value[:8]  # 14:30:00.000+03:00: the local time, as the web form takes it
    if item.type == "integer":
        try:
            into[item.key] = int(value)
        except ValueError:
            into[item.key] = value
        return
    into[item.key] = value
