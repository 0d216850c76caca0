"""PDFs: the same pages, rewritten without the document's metadata and without what rides along.

Removed: the Info dictionary (author, title, creator, producer, dates), every XMP metadata stream (the
document's and those attached to pages, images and fonts), the document ID (replaced by a fixed one),
application data (`/PieceInfo`, `/LastModified`), page thumbnails (which can show an earlier version of the
page), embedded files and file-attachment annotations, JavaScript and actions run on opening, the author
and dates of comments, and the EXIF/XMP/IPTC segments inside embedded JPEG photos (a scan or a photo saved
as PDF keeps its camera's GPS there, where exiftool does not look). Writing the file anew also drops the
earlier revisions an incremental save keeps at the end of the file.

Not touched: what the pages say and show. Names in the text, faces in embedded photos and identifying
details in scans stay; a human must look at a PDF before sharing it.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pikepdf
from pikepdf import Array, Dictionary, Name, Stream

from .errors import DerivativeRefused

# Keys removed from every dictionary in the file.
DROPPED_EVERYWHERE = ("/Metadata", "/PieceInfo", "/LastModified", "/Thumb")
# Keys removed from the document catalog: actions on opening, associated files, document parts.
DROPPED_FROM_CATALOG = ("/OpenAction", "/AA", "/AF", "/DPartRoot", "/SpiderInfo")
# Keys removed from annotations: author (/T on comments; on form fields /T is the field's name), dates.
DROPPED_FROM_ANNOTATIONS = ("/M", "/CreationDate", "/RC")


def sanitise_pdf(src: Path, out: Path) -> str:
    """Write `src` to `out` without metadata. Returns the media type."""
    try:
        pdf = pikepdf.open(src)
    except pikepdf.PasswordError:
        raise DerivativeRefused("the PDF is locked with a password") from None
    except (pikepdf.PdfError, OSError, ValueError) as exc:
        raise DerivativeRefused(f"the PDF cannot be read ({type(exc).__name__})") from None
    with pdf:
        try:
            _strip(pdf)
            pdf.save(
                out,
                static_id=True,  # a fixed /ID: the original's would link the derivative to it
                encryption=False,
                fix_metadata_version=False,  # would write an XMP packet back
                preserve_pdfa=False,
                linearize=False,
            )
        except (pikepdf.PdfError, ValueError, KeyError, TypeError, struct.error) as exc:
            raise DerivativeRefused(f"the PDF cannot be rewritten ({type(exc).__name__})") from None
    _check_clean(out)
    return "application/pdf"


def _strip(pdf: pikepdf.Pdf) -> None:
    # Without the old /ID, qpdf writes a fixed one (static_id); otherwise it keeps the first half.
    for key in ("/Info", "/ID"):
        if key in pdf.trailer:
            del pdf.trailer[key]
    root = pdf.Root
    for key in DROPPED_FROM_CATALOG:
        if key in root:
            del root[key]
    names = root.get("/Names")
    if isinstance(names, Dictionary):
        for key in ("/EmbeddedFiles", "/JavaScript"):
            if key in names:
                del names[key]
    for page in pdf.pages:
        annots = page.obj.get("/Annots")
        if not isinstance(annots, Array):
            continue
        kept = [a for a in annots if isinstance(a, Dictionary) and a.get("/Subtype") != "/FileAttachment"]
        for annot in kept:
            for key in DROPPED_FROM_ANNOTATIONS:
                if key in annot:
                    del annot[key]
            if annot.get("/Subtype") != "/Widget" and "/T" in annot:
                del annot["/T"]
        page.obj["/Annots"] = Array(kept)
    for obj in pdf.objects:
        if not isinstance(obj, (Dictionary, Stream)):
            continue
        for key in DROPPED_EVERYWHERE:
            if key in obj:
                del obj[key]
        if isinstance(obj, Stream) and obj.get("/Subtype") == "/Image" and _only_filter(obj, "/DCTDecode"):
            parms = obj.get("/DecodeParms")
            obj.write(
                strip_jpeg_segments(obj.read_raw_bytes()),
                filter=Name.DCTDecode,
                decode_parms=parms if isinstance(parms, (Dictionary, Array)) else None,
            )


def _only_filter(stream: Stream, name: str) -> bool:
    value = stream.get("/Filter")
    if isinstance(value, Array):
        return len(value) == 1 and value[0] == name
    return value == name


def strip_jpeg_segments(data: bytes) -> bytes:
    """A JPEG's bytes without APP1-APP13 and APP15 segments (EXIF, XMP, ICC, IPTC…) and comments.

    APP0 (JFIF) and APP14 (Adobe: how to read CMYK colours) stay, as does everything the decoder needs.
    Bytes that do not parse as JPEG are returned unchanged.
    """
    if data[:2] != b"\xff\xd8":
        return data
    kept = bytearray(data[:2])
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return data
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA:  # start of scan: the rest is image data
            kept += data[pos:]
            return bytes(kept)
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        segment = data[pos : pos + 2 + length]
        if not (0xE1 <= marker <= 0xED or marker == 0xEF or marker == 0xFE):
            kept += segment
        pos += 2 + length
    return data


def _check_clean(out: Path) -> None:
    """Read the derivative back; refuse it if an Info dictionary or a metadata stream is left."""
    with pikepdf.open(out) as pdf:
        if "/Info" in pdf.trailer:
            raise DerivativeRefused("the PDF derivative still has an Info dictionary")
        for obj in pdf.objects:
            if isinstance(obj, (Dictionary, Stream)) and ("/Metadata" in obj or "/PieceInfo" in obj):
                raise DerivativeRefused("the PDF derivative still has a metadata stream")
