"""The four shapes of an export, each a generator of text chunks over the same records.

- **csv**: our own column names, with grade, source reliability, incident id and precision codes;
- **hxl**: the same columns with a row of HXL 1.1 hashtags under the header (`#x_` for what the
  dictionary lacks; design/evidence.md lists the tags used);
- **acled**: ACLED's column names in ACLED's order, our civilian counts beside their all-fatalities
  column, then our grade and ids;
- **geojson**: one RFC 7946 FeatureCollection: [longitude, latitude] in WGS 84, no `crs`, at most 7
  decimals; each feature's geometry is its coarse H3 cell (a Polygon), or null without a place.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import functools
import io
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .policy import GROUPS, HARMS, Of

# A cell starting with one of these is a formula to Excel, LibreOffice or Google Sheets (OWASP,
# "CSV injection"); tab and carriage return can smuggle one past a naive check.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FLUSH_EVERY = 200


class Format(str, enum.Enum):
    CSV = "csv"
    GEOJSON = "geojson"
    HXL = "hxl"
    ACLED = "acled"


MEDIA_TYPES = {Format.CSV: "text/csv", Format.HXL: "text/csv", Format.ACLED: "text/csv",
               Format.GEOJSON: "application/geo+json"}
SUFFIXES = {Format.CSV: ".csv", Format.HXL: ".hxl.csv", Format.ACLED: ".acled.csv", Format.GEOJSON: ".geojson"}


def neutralise(value: Any) -> Any:
    """A text cell a spreadsheet would evaluate gets a leading apostrophe; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return neutralise(value)


COUNTS = [f"{h}_{g}" for h in HARMS for g in GROUPS]
TOTALS = [f"{h}_total" for h in HARMS]

# (column, HXL hashtag). The column sets of the CSV and HXL exports; "report_id" or "incident_id" leads.
_ID_TAG = {Of.REPORTS: ("report_id", "#event+id"), Of.INCIDENTS: ("incident_id", "#event+id")}
_HXL_GROUP = {"men": "+m+adults", "women": "+f+adults", "boys": "+m+children", "girls": "+f+children",
              "unknown": "+x_unknown"}


def _count_tag(harm: str, group: str) -> str:
    base = "#affected+killed" if harm == "killed" else "#affected+injured" if harm == "injured" else "#x_missing"
    return base + _HXL_GROUP[group]


def _total_tag(harm: str) -> str:
    return {"killed": "#affected+killed", "injured": "#affected+injured", "missing": "#x_missing"}[harm]


def columns(of: Of) -> list[tuple[str, str]]:
    """The CSV/HXL columns of an export over `of`, each with its HXL hashtag."""
    cols = [_ID_TAG[of]]
    if of == Of.REPORTS:
        cols += [("incident_id", "#x_incident+id"), ("state", "#x_state")]
    else:
        cols += [("reports", "#x_reports+num")]
    cols += [
        ("received_on", "#date+reported"), ("occurred_on", "#date+occurred"), ("occurred_time", "#x_time+occurred"),
        ("date_precision", "#x_date_precision"), ("time_precision", "#x_time_precision"),
        ("country", "#country+code"), ("admin1", "#adm1+name"), ("admin2", "#adm2+name"), ("locality", "#loc+name"),
        ("location_precision", "#x_location_precision"), ("geo_precision", "#x_geo_precision"),
        ("location_cell", "#x_h3"), ("latitude", "#geo+lat"), ("longitude", "#geo+lon"),
        ("incident_type", "#cause+type"),
    ]
    for harm in HARMS:
        cols += [(f"{harm}_{g}", _count_tag(harm, g)) for g in GROUPS]
        cols.append((f"{harm}_total", _total_tag(harm)))
    cols += [("civilians_killed", "#affected+killed+x_civilians"),
             ("civilians_injured", "#affected+injured+x_civilians")]
    if of == Of.INCIDENTS:
        cols += [(f"{h}_reconciled", f"{_total_tag(h)}+x_reconciled") for h in HARMS]
    cols += [
        ("victims", "#x_victims"), ("displaced", "#x_displaced"), ("objects_damaged", "#x_damage"),
        ("delivery_platform", "#item+type+platform"), ("platform_model", "#item+name+platform"),
        ("platform_manufacturer", "#x_manufacturer+platform"), ("platform_country", "#country+code+origin+platform"),
        ("platform_identified_as", "#x_identified_as+platform"),
        ("munition_type", "#item+type+munition"), ("munition_model", "#item+name+munition"),
        ("munition_manufacturer", "#x_manufacturer+munition"), ("munition_country", "#country+code+origin+munition"),
        ("munition_identified_as", "#x_identified_as+munition"),
        ("used_by", "#group+code+x_used_by"), ("used_by_name", "#group+name+x_used_by"),
        ("used_by_basis", "#x_used_by_basis"),
        ("remnants_found", "#x_remnants_found"), ("markings", "#x_markings"),
        ("components", "#item+name+component"), ("component_countries", "#country+code+origin"),
        ("item_details", "#x_item_details"),
        ("identification_basis", "#x_identification_basis"),
        ("identification_confidence", "#x_identification_confidence"),
        ("source_type", "#meta+source"), ("consent", "#x_consent"),
        ("grade", "#x_grading"), ("source_reliability", "#x_source_reliability"),
        ("attachments_sha256", "#x_sha256"),
    ]
    return cols


def _field(of: Of, column: str) -> str:
    """The record field a column shows."""
    if column == _ID_TAG[of][0]:
        return "id"
    return {"location_cell": "cell"}.get(column, column)


def _rows(header: list[Any], tags: list[str] | None, body: Iterable[list[Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    if tags is not None:
        writer.writerow(tags)
    for count, row in enumerate(body, 1):
        writer.writerow(row)
        if count % FLUSH_EVERY == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _record_value(record: dict[str, Any], field: str) -> Any:
    if field == "used_by_name":
        return "; ".join(_country_name(c) for c in (record.get("used_by") or "").split(";") if c) or None
    return record.get(field)


def write_csv(records: Iterable[dict[str, Any]], of: Of, *, hxl: bool = False) -> Iterator[str]:
    cols = columns(of)
    fields = [_field(of, name) for name, _tag in cols]
    body = ([_cell(_record_value(record, f)) for f in fields] for record in records)
    return _rows([name for name, _tag in cols], [tag for _name, tag in cols] if hxl else None, body)


# ---- ACLED ----------------------------------------------------------------------------------------

ACLED_COLUMNS = [
    "event_id_cnty", "event_date", "year", "time_precision", "disorder_type", "event_type", "sub_event_type",
    "actor1", "assoc_actor_1", "inter1", "actor2", "assoc_actor_2", "inter2", "interaction", "civilian_targeting",
    "iso", "region", "country", "admin1", "admin2", "admin3", "location", "latitude", "longitude", "geo_precision",
    "source", "source_scale", "notes", "fatalities", "tags", "timestamp",
]
# Ours, after ACLED's all-fatalities column (ACLED's `fatalities` counts every death, not only civilians).
ACLED_OURS = ["civilian_fatalities", "civilian_injured", "injured", "grade", "source_reliability", "report_id",
              "incident_id"]
EXPLOSIONS = "Explosions/Remote violence"
AIR, SHELLING, REMOTE = "Air/drone strike", "Shelling/artillery/missile attack", "Remote explosive/landmine/IED"


def acled_columns() -> list[str]:
    at = ACLED_COLUMNS.index("fatalities") + 1
    return [*ACLED_COLUMNS[:at], *ACLED_OURS[:3], *ACLED_COLUMNS[at:], *ACLED_OURS[3:]]


def acled_event(record: dict[str, Any]) -> tuple[str, str]:
    """(event_type, sub_event_type): from the munition first, then the incident type and the platform."""
    munition = f"{record.get('munition_type') or ''} {record.get('munition_model') or ''}".casefold()
    if any(word in munition for word in ("chemical", "chlorine", "sarin", "mustard")):
        return EXPLOSIONS, "Chemical weapon"
    if "grenade" in munition:
        return EXPLOSIONS, "Grenade"
    if "suicide" in munition:
        return EXPLOSIONS, "Suicide bomb"
    if any(word in munition for word in ("landmine", "mine", "ied", "improvised")):
        return EXPLOSIONS, REMOTE
    kind, platform = record.get("incident_type"), record.get("delivery_platform")
    if kind in ("airstrike", "drone_strike", "loitering_munition"):
        return EXPLOSIONS, AIR
    if kind in ("shelling", "rocket", "missile"):
        return EXPLOSIONS, SHELLING
    if kind in ("landmine_uxo", "ied"):
        return EXPLOSIONS, REMOTE
    if kind == "small_arms":
        return "Violence against civilians", "Attack"
    if platform in ("aircraft", "drone"):
        return EXPLOSIONS, AIR
    if platform in ("artillery", "mlrs", "ship", "ground_vehicle"):
        return EXPLOSIONS, SHELLING
    return EXPLOSIONS, ""


@functools.cache
def _iso_numeric() -> dict[str, str]:
    from babel.core import get_global

    return {codes[0]: number for number, codes in get_global("territory_aliases").items()
            if number.isdigit() and len(codes) == 1}


@functools.cache
def _country_name(code: str) -> str:
    from babel import Locale

    return str(Locale("en").territories.get(code, code))


STATE_FORCES, EXTERNAL_FORCES, CIVILIANS = 1, 8, 7


def acled_actor1(record: dict[str, Any], country: str) -> tuple[str, str, Any]:
    """(actor1, assoc_actor_1, inter1) from the user of the weapon in force: ACLED's "Military Forces of
    <country>" (without ACLED's regime years, which are not recorded here), inter1 1 (state forces) in
    its own country and 8 (external/other forces) outside it; blank when no state is named. Two states
    in force over an incident: the first is actor1, the others its associates."""
    states = [c for c in (record.get("used_by") or "").split(";") if c]
    if not states:
        return "", "", ""
    actors = [f"Military Forces of {_country_name(c)}" for c in states]
    inter = STATE_FORCES if states[0] == country else EXTERNAL_FORCES
    return actors[0], "; ".join(actors[1:]), inter


def acled_row(record: dict[str, Any], of: Of) -> list[Any]:
    event_type, sub_event = acled_event(record)
    country = record.get("country") or ""
    name = _country_name(country) if country else ""
    date = str(record.get("occurred_on") or "")
    updated = record.get("updated_at")
    actor1, assoc_actor_1, inter1 = acled_actor1(record, country)
    values: dict[str, Any] = {
        "event_id_cnty": f"{country}{record['id']}",
        # A month-only date is given as its first day, with time_precision 3.
        "event_date": date + "-01" if len(date) == 7 else date,
        "year": record.get("year"), "time_precision": record.get("time_precision"),
        "disorder_type": "Political violence", "event_type": event_type, "sub_event_type": sub_event,
        "actor1": actor1, "assoc_actor_1": assoc_actor_1, "inter1": inter1,
        "actor2": f"Civilians ({name})" if name else "Civilians", "assoc_actor_2": "", "inter2": CIVILIANS,
        # ACLED's numeric interaction: the two inter codes, the lower first (17, 78).
        "interaction": int("".join(sorted(f"{inter1}{CIVILIANS}"))) if inter1 else "", "civilian_targeting": "",
        "iso": _iso_numeric().get(country, ""), "region": "", "country": name,
        "admin1": record.get("admin1"), "admin2": record.get("admin2"), "admin3": "",
        "location": record.get("locality") or record.get("admin2") or record.get("admin1") or "",
        "latitude": record.get("latitude"), "longitude": record.get("longitude"),
        "geo_precision": record.get("geo_precision"),
        "source": record.get("source_type"), "source_scale": "",
        "notes": "; ".join(p for p in (record.get("platform_model"), record.get("munition_model"),
                                       record.get("components")) if p),
        "fatalities": record.get("killed_total"),
        "civilian_fatalities": record.get("civilians_killed"),
        "civilian_injured": record.get("civilians_injured"), "injured": record.get("injured_total"),
        "tags": f"grade: {record['grade']}" if record.get("grade") else "",
        "timestamp": int(updated.timestamp()) if isinstance(updated, dt.datetime) else "",
        "grade": record.get("grade"), "source_reliability": record.get("source_reliability"),
        "report_id": record["id"] if of == Of.REPORTS else "", "incident_id": record.get("incident_id"),
    }
    return [_cell(values[c]) for c in acled_columns()]


def write_acled(records: Iterable[dict[str, Any]], of: Of) -> Iterator[str]:
    return _rows(acled_columns(), None, (acled_row(r, of) for r in records))


# ---- GeoJSON --------------------------------------------------------------------------------------

GEOJSON_SKIP = ("cell", "latitude", "longitude", "updated_at", "year")


def _ring(cell: str) -> list[list[float]]:
    """The cell's outline as a closed, counter-clockwise ring of [longitude, latitude] (RFC 7946, 3.1.6)."""
    import h3

    ring = [[round(lng, 7), round(lat, 7)] for lat, lng in h3.cell_to_boundary(cell)]
    if max(p[0] for p in ring) - min(p[0] for p in ring) > 180:  # across the antimeridian: one side's longitudes
        ring = [[lng + 360 if lng < 0 else lng, lat] for lng, lat in ring]
    area = sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(ring, ring[1:] + ring[:1], strict=True))
    if area < 0:
        ring.reverse()
    return [*ring, ring[0]]


def feature(record: dict[str, Any], of: Of) -> dict[str, Any]:
    cell = record.get("cell")
    geometry = {"type": "Polygon", "coordinates": [_ring(cell)]} if cell else None
    properties: dict[str, Any] = {}
    for name, _tag in columns(of):
        key = _field(of, name)
        if key in GEOJSON_SKIP:
            continue
        value = _record_value(record, key)
        if value is not None and value != "":
            properties[name] = value
    properties["location_cell"] = cell
    return {"type": "Feature", "id": record["id"], "geometry": geometry, "properties": properties}


def write_geojson(records: Iterable[dict[str, Any]], of: Of, notes: Callable[[], dict[str, Any]]) -> Iterator[str]:
    """One FeatureCollection, a feature at a time; the notes (what was suppressed) come last, as a
    foreign member, once every feature is written."""
    yield '{"type":"FeatureCollection","features":['
    chunk: list[str] = []
    for count, record in enumerate(records):
        chunk.append(("," if count else "") + json.dumps(feature(record, of), ensure_ascii=False,
                                                         separators=(",", ":")))
        if len(chunk) >= FLUSH_EVERY:
            yield "".join(chunk)
            chunk = []
    yield "".join(chunk)
    yield '],"intake_notes":' + json.dumps(notes(), ensure_ascii=False, separators=(",", ":")) + "}\n"


def write(fmt: Format, records: Iterable[dict[str, Any]], of: Of, notes: Callable[[], dict[str, Any]]) -> Iterator[str]:
    if fmt == Format.GEOJSON:
        return write_geojson(records, of, notes)
    if fmt == Format.ACLED:
        return write_acled(records, of)
    return write_csv(records, of, hxl=fmt == Format.HXL)
