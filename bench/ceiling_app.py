"""The ceiling for `bench/intake.py`: the least a Flask app on gunicorn can do with a report.

One POST endpoint parses the JSON body, inserts one row into PostgreSQL (table `bench_ceiling`,
created by the bench) in its own transaction, and answers 201 — no ORM, no validation, no broker.
Served by gunicorn with the same worker count and class as intake and driven with the same
clients and body, its rate is what this machine allows any such app; intake is measured against it.

    BENCH_CEILING_DSN=postgresql://postgres@127.0.0.1:5432/bench \
        gunicorn --workers 4 bench.ceiling_app:app        # from the repository root
"""

from __future__ import annotations

import os
import threading
from typing import Any

import psycopg
from flask import Flask, jsonify, request

app = Flask(__name__)
_local = threading.local()


def connection() -> psycopg.Connection[Any]:
    """One connection per gunicorn worker thread (each serves one request at a time)."""
    current: psycopg.Connection[Any] | None = getattr(_local, "connection", None)
    if current is None or current.closed:
        current = _local.connection = psycopg.connect(os.environ["BENCH_CEILING_DSN"], autocommit=True)
    return current


@app.post("/ceiling")
def ceiling() -> Any:
    body = request.get_json()
    if not isinstance(body, dict):
        return jsonify(error="expected an object"), 422
    row = connection().execute(
        "INSERT INTO bench_ceiling (submission_id, body) VALUES (%s, %s) RETURNING id",
        (request.headers.get("Idempotency-Key"), request.get_data(as_text=True)),
    ).fetchone()
    return jsonify(id=row[0] if row else None), 201


@app.get("/healthz")
def healthz() -> Any:
    connection().execute("SELECT 1")
    return jsonify(status="ok")
