"""The OpenAPI 3.1 document of `/api/v1`, generated from the same schema the routes validate with."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic.json_schema import models_json_schema

from ..schema import AttachmentOut, ReportIn

REF = "#/components/schemas/{model}"


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    _, schemas = models_json_schema([(ReportIn, "validation"), (AttachmentOut, "serialization")],
                                    ref_template=REF)
    components = dict(schemas.get("$defs", {}))
    components["Error"] = {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string"},
            "message": {"type": "string"},
            "errors": {"type": "object", "description": "Messages per field path, e.g. `victims.0.age`.",
                       "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        },
    }
    components["Report"] = {
        "type": "object",
        "required": ["id", "receipt_code", "status", "received_at", "channel"],
        "properties": {
            "id": {"type": "string", "format": "uuid", "description": "Random public id of the report."},
            "receipt_code": {"type": "string", "examples": ["7K2Q-9XMD"]},
            "status": {"type": "string"},
            "status_label": {"type": "string"},
            "received_at": {"type": "string", "format": "date-time"},
            "channel": {"type": "string"},
            "submitted": {"type": "object", "description": "What the submitting reporter sent."},
            "filing": {"type": "string", "enum": ["pending"],
                       "description": "Only while the report is being filed: received and safe, its content "
                                      "not shown yet."},
            "attachments": {"type": "array", "items": {"$ref": REF.format(model="AttachmentOut")}},
            "links": {"type": "object"},
        },
    }
    report_id = {"name": "public_id", "in": "path", "required": True, "schema": {"type": "string"}}
    unauthorized = _error("Missing or invalid bearer token.")
    not_found = _error("No such report, or not filed by this token's user.")
    return {
        "openapi": "3.1.0",
        "info": {"title": "Civilian-harm intake API", "version": "1"},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/reports": {
                "post": {
                    "operationId": "createReport",
                    "summary": "File a report (idempotent by Idempotency-Key or submission_id)",
                    "parameters": [{
                        "name": "Idempotency-Key", "in": "header", "required": False,
                        "schema": {"type": "string", "pattern": r"^[A-Za-z0-9._:-]{8,64}$"},
                        "description": "A replay with the same key returns the first report (200).",
                    }],
                    "requestBody": {"required": True, "content": {
                        "application/json": {"schema": {"$ref": REF.format(model="ReportIn")}}}},
                    "responses": {
                        "201": {"description": "Report received.", "content": {
                            "application/json": {"schema": {"$ref": REF.format(model="Report")}}}},
                        "200": {"description": "Replay: the report this key made before.", "content": {
                            "application/json": {"schema": {"$ref": REF.format(model="Report")}}}},
                        "400": _error("The body is not valid JSON."),
                        "401": unauthorized,
                        "404": not_found,
                        "413": _error("The JSON body is larger than the server accepts (see max_bytes)."),
                        "415": _error("The body is not application/json."),
                        "422": _error("Validation errors, per field."),
                        "429": _error("Too many reports from this token or account; retry after Retry-After."),
                        "503": _error("Not stored; retry later with the same key (see Retry-After)."),
                    },
                },
            },
            "/api/v1/reports/{public_id}": {
                "get": {
                    "operationId": "getReport",
                    "summary": "Status, receipt and what the submitting reporter sent",
                    "parameters": [report_id],
                    "responses": {
                        "200": {"description": "The report.", "content": {
                            "application/json": {"schema": {"$ref": REF.format(model="Report")}}}},
                        "401": unauthorized,
                        "404": not_found,
                    },
                },
            },
            "/api/v1/reports/{public_id}/attachments": {
                "post": {
                    "operationId": "addAttachment",
                    "summary": ("Attach a photo, video, audio recording or PDF "
                                "(the same bytes twice are one file)"),
                    "parameters": [report_id],
                    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "captured_at": {"type": "string", "format": "date-time"},
                            "description": {"type": "string", "maxLength": 2000},
                        },
                    }}}},
                    "responses": {
                        "201": {"description": "Stored.", "content": {"application/json": {
                            "schema": {"$ref": REF.format(model="AttachmentOut")}}}},
                        "200": {"description": "This file was already attached.", "content": {
                            "application/json": {"schema": {"$ref": REF.format(model="AttachmentOut")}}}},
                        "401": unauthorized,
                        "404": not_found,
                        "409": _error("The report no longer takes files: it is neither being filed nor "
                                      "answering a question."),
                        "413": _error("The file, or the report's files together, are too large."),
                        "422": _error("Not an accepted kind of file, or a field is invalid."),
                        "429": _error("The account's bytes of files for the day are used up; see Retry-After."),
                    },
                },
            },
            **_upload_paths(unauthorized),
            **_export_paths(unauthorized),
        },
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "session",
                            "description": "The signed-in browser (resumable uploads only); writes send the "
                                           "page's CSRF token in X-CSRFToken."},
            },
        },
    }


def _header(name: str, description: str, required: bool = True, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": required, "description": description,
            "schema": schema or {"type": "string"}}


def _export_paths(unauthorized: dict[str, Any]) -> dict[str, Any]:
    """The open exports (intake.exports), for a coordinator's read-only export token."""
    of = {"name": "of", "in": "path", "required": True, "schema": {"type": "string", "enum": ["reports", "incidents"]}}
    query = [
        {"name": "format", "in": "query", "required": True,
         "schema": {"type": "string", "enum": ["csv", "geojson", "hxl", "acled"]}},
        {"name": "tier", "in": "query", "required": False,
         "schema": {"type": "string", "enum": ["public", "partner"], "default": "public"},
         "description": "partner needs a token of scope export:partner."},
    ]
    refused = {
        "400": _error("An unknown format, tier or kind of row."),
        "401": unauthorized,
        "403": _error("insufficient_scope: the token has no export scope, or not for this tier."),
        "409": _error("export_blocked: the k-anonymity check failed; nothing was exported."),
    }
    return {
        "/api/v1/exports/{of}": {"get": {
            "operationId": "downloadExport",
            "summary": "The organisation's verified reports or incidents as CSV, GeoJSON, HXL or ACLED (audited)",
            "parameters": [of, *query],
            "responses": {"200": {"description": "The export, whole.", "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/geo+json": {"schema": {"type": "object"}}}}, **refused},
        }},
        "/api/v1/exports/{of}/notes": {"get": {
            "operationId": "exportNotes",
            "summary": "What that export suppresses and why (counts and rules, no rows)",
            "parameters": [of, *query],
            "responses": {"200": {"description": "The notes.", "content": {
                "application/json": {"schema": {"type": "object"}}}}, **refused},
        }},
        "/api/v1/transfers": {"get": {
            "operationId": "listTransfers",
            "summary": "The organisation's transfer records: public facts about arms transfers (docs/transfers.md)",
            "responses": {"200": {"description": "Every record, latest transfer first.", "content": {
                "application/json": {"schema": {"type": "object", "required": ["transfers"], "properties": {
                    "transfers": {"type": "array", "items": {"type": "object"}}}}}}},
                "401": unauthorized, "403": _error("insufficient_scope: the token has no export scope.")},
        }},
    }


def _upload_paths(unauthorized: dict[str, Any]) -> dict[str, Any]:
    """The tus 1.0.0 endpoints (core, creation, termination, checksum with sha256, expiration)."""
    tus = _header("Tus-Resumable", "The protocol version: 1.0.0 (412 otherwise). Every answer carries it too.",
                  type="string", const="1.0.0")
    upload_id = {"name": "public_id", "in": "path", "required": True, "schema": {"type": "string"}}
    security: list[dict[str, list[str]]] = [{"bearer": []}, {"session": []}]
    offset = {"Upload-Offset": {"schema": {"type": "integer"}, "description": "Bytes received so far."}}
    expires = {"Upload-Expires": {"schema": {"type": "string"},
                                  "description": "When an unfinished upload expires (RFC 9110 date)."}}
    not_found = _error("No such upload (or report), or not this user's.")
    gone = _error("The upload expired or was terminated: create a new one.")
    capabilities = {
        "summary": "What the server supports (no authentication)",
        "security": [],
        "responses": {"204": {"description": "Capabilities.", "headers": {
            "Tus-Version": {"schema": {"type": "string"}, "description": "1.0.0"},
            "Tus-Extension": {"schema": {"type": "string"},
                              "description": "creation,termination,checksum,expiration"},
            "Tus-Max-Size": {"schema": {"type": "integer"}, "description": "Largest file, in bytes."},
            "Tus-Checksum-Algorithm": {"schema": {"type": "string"}, "description": "sha256"},
        }}},
    }
    return {
        "/api/v1/uploads": {
            "options": {"operationId": "uploadCapabilities", **capabilities},
            "post": {
                "operationId": "createUpload",
                "summary": "Start a resumable upload (tus creation) of a file for a filed report",
                "security": security,
                "parameters": [
                    tus,
                    _header("Upload-Length", "The file's size in bytes (at most Tus-Max-Size and the report's "
                            "remaining budget, 413 otherwise).", type="integer", minimum=1),
                    _header("Upload-Metadata", "Comma-separated `key base64(value)` pairs: `report` (required: "
                            "the report's id, or the web form's submission id), `filename`, and optionally "
                            "`description` and `captured_at` (ISO 8601), as the attachment endpoint's fields."),
                    _header("X-CSRFToken", "The page's CSRF token, for the session only.", required=False),
                ],
                "responses": {
                    "201": {"description": "Created; send the bytes to Location with PATCH.", "headers": {
                        "Location": {"schema": {"type": "string"}, "description": "The upload's URL."},
                        **expires}},
                    "400": _error("A header is missing or malformed."),
                    "401": unauthorized,
                    "403": _error("Session without a valid X-CSRFToken."),
                    "404": not_found,
                    "412": _error("Tus-Resumable is not 1.0.0."),
                    "413": _error("Larger than a file, or the report's files together, may be."),
                    "422": _error("An empty file."),
                },
            },
        },
        "/api/v1/uploads/{public_id}": {
            "options": {"operationId": "uploadCapabilitiesAt", "parameters": [upload_id], **capabilities},
            "head": {
                "operationId": "uploadOffset",
                "summary": "Where to resume: the bytes received so far",
                "security": security,
                "parameters": [upload_id, tus],
                "responses": {
                    "200": {"description": "The upload's progress.", "headers": {
                        **offset, "Upload-Length": {"schema": {"type": "integer"}}, **expires,
                        "Intake-Attachment": {"schema": {"type": "string"},
                                              "description": "Once complete: the attachment's id."}}},
                    "401": unauthorized,
                    "404": not_found,
                    "410": gone,
                },
            },
            "patch": {
                "operationId": "uploadBytes",
                "summary": "Append bytes at Upload-Offset; the last byte stores the file on the report",
                "description": ("A body cut short keeps the bytes that arrived (ask HEAD), unless it carried "
                                "Upload-Checksum. When the last byte arrives the file is checked and stored "
                                "as `POST /api/v1/reports/{public_id}/attachments` stores it, and appears in "
                                "`GET /api/v1/reports/{public_id}` with its sha256."),
                "security": security,
                "parameters": [
                    upload_id, tus,
                    _header("Upload-Offset", "Must equal the server's offset (409 otherwise).", type="integer"),
                    _header("Upload-Checksum", "`sha256 <base64 digest of this body>` (460 if it differs).",
                            required=False),
                    _header("X-CSRFToken", "The page's CSRF token, for the session only.", required=False),
                ],
                "requestBody": {"required": True, "content": {
                    "application/offset+octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                "responses": {
                    "204": {"description": "Stored; the new offset.", "headers": {
                        **offset, **expires,
                        "Intake-Attachment": {"schema": {"type": "string"},
                                              "description": "When this request completed the file."}}},
                    "400": _error("Upload-Offset or Upload-Checksum malformed, or a checksum other than sha256."),
                    "401": unauthorized,
                    "403": _error("Session without a valid X-CSRFToken."),
                    "404": not_found,
                    "409": _error("Upload-Offset is not the server's offset: ask HEAD."),
                    "410": gone,
                    "413": _error("More bytes than the upload's length, or the finished file is over a limit."),
                    "415": _error("Not application/offset+octet-stream."),
                    "422": _error("The finished file is not an accepted kind of file."),
                    "423": _error("Another request is sending bytes to this upload right now."),
                    "460": _error("Checksum mismatch: nothing of the body was kept."),
                },
            },
            "delete": {
                "operationId": "terminateUpload",
                "summary": "Abandon an upload (tus termination): its bytes are removed",
                "security": security,
                "parameters": [upload_id, tus,
                               _header("X-CSRFToken", "The page's CSRF token, for the session only.", required=False)],
                "responses": {"204": {"description": "Terminated."}, "401": unauthorized, "404": not_found,
                              "410": gone},
            },
        },
    }
