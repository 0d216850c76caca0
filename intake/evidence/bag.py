"""Checking a pack, and handing it over as one file.

`verify_bag` needs nothing but the folder: no server, no database, no network. It checks, in
order, that the folder is a BagIt bag, that every file is in the manifests with its SHA-256 and
size (and no file is missing or added), that the custody log's chain holds and ends where
bag-info.txt says, and that every media file is named by its own SHA-256 as media/index.csv says.
It answers the first thing that does not hold.

`zip_bag` writes the bag as a zip with fixed times and sorted entries, so the same bag gives the
same zip.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from pathlib import Path
from typing import IO

from . import custody

ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def verify_bag(path: Path) -> str | None:
    """None when the bag, every hash and the custody chain check out; else the first problem."""
    import logging

    import bagit

    logging.getLogger("bagit").setLevel(logging.ERROR)
    if not path.is_dir():
        return f"{path}: not a folder"
    try:
        bag = bagit.Bag(str(path))
    except bagit.BagError as exc:
        return f"not a BagIt bag: {exc}"
    try:
        bag.validate(processes=1, fast=False, completeness_only=False)
    except bagit.BagValidationError as exc:
        details = getattr(exc, "details", None) or []
        first = sorted(str(d) for d in details)[0] if details else str(exc)
        return f"bag does not validate: {first}"
    except bagit.BagError as exc:
        return f"bag does not validate: {exc}"
    data = path / "data"
    log = data / "custody.jsonl"
    if not log.is_file():
        return "data/custody.jsonl is missing"
    lines = log.read_text(encoding="utf-8").splitlines()
    problem = custody.verify_lines(lines)
    if problem:
        return problem
    info = bag.info
    if str(info.get("Pack-Custody-Lines", "")) != str(len(lines)):
        return "custody.jsonl: the number of lines differs from bag-info.txt (lines cut off the end)"
    import json

    if json.loads(lines[-1])["hash"] != info.get("Pack-Custody-Head"):
        return "custody.jsonl: the last line is not the head bag-info.txt names"
    index = data / "media" / "index.csv"
    if not index.is_file():
        return "data/media/index.csv is missing"
    with index.open(encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle), 2):
            for name_field, hash_field in (("working_file", "working_sha256"), ("original_file", "original_sha256")):
                name = row.get(name_field) or ""
                if not name:
                    continue
                target = data / name
                if not target.is_file():
                    return f"media/index.csv line {number}: {name} is missing"
                digest = hashlib.sha256(target.read_bytes()).hexdigest()
                if digest != row.get(hash_field) or not Path(name).stem == digest:
                    return f"media/index.csv line {number}: {name} is not named by its SHA-256"
    return None


def zip_bag(path: Path, out: IO[bytes]) -> None:
    """The bag as a zip under its folder's name, entries sorted, times fixed."""
    root = path.name
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            entry = zipfile.ZipInfo(f"{root}/{file.relative_to(path).as_posix()}", date_time=ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            with file.open("rb") as source, archive.open(entry, "w") as target:
                while chunk := source.read(1 << 16):
                    target.write(chunk)


def unzip_bag(data: bytes, into: Path) -> Path:
    """A zipped pack unpacked under `into` (refusing names that leave it); the bag's folder."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        roots = set()
        for name in archive.namelist():
            target = (into / name).resolve()
            if not target.is_relative_to(into.resolve()):
                raise ValueError("a zip entry leaves the folder")
            roots.add(name.split("/", 1)[0])
        archive.extractall(into)  # noqa: S202  (every name checked above)
    (root,) = roots
    return into / root
