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
        },
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
