"""Resumable uploads over tus 1.0.0 (core, creation, termination, checksum with sha256, expiration).

`protocol` holds an upload's state (a `models.ResumableUpload` row) and what each request does to
it; `storage` keeps the bytes received so far sealed at rest. When the last byte arrives the file
goes through `media.attach_to_report`, the same function as the API's attachment endpoint. The
HTTP side is `intake.web.uploads`.
"""
