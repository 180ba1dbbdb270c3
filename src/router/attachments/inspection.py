"""What an attachment's bytes really are, and whether the router keeps them.

The declared content type is the sender's claim; the first bytes (the magic numbers of the
format) say what the content is. A file is kept when it is within the size limit, its type
is allowed, and the bytes agree with the claim. Otherwise it stays as metadata with the
reason it was refused: a provider's signed message is never refused for an odd file.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

OCTET_STREAM = "application/octet-stream"
_TEXT_PROBE = 8 * 1024

# (offset, magic bytes, sniffed type); the first match wins, so longer, more specific
# signatures come before shorter ones that share a prefix.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
    (0, b"{\\rtf", "application/rtf"),
    (0, b"OggS", "audio/ogg"),
    (0, b"fLaC", "audio/flac"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"#!AMR", "audio/amr"),
    (0, b"\x1a\x45\xdf\xa3", "video/webm"),
    (0, b"MZ", "application/x-executable"),
    (0, b"\x7fELF", "application/x-executable"),
    (0, b"\xcf\xfa\xed\xfe", "application/x-executable"),
    (0, b"\xfe\xed\xfa\xcf", "application/x-executable"),
    (0, b"#!", "application/x-executable"),
)
_RIFF = {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}
# ISO base media (MP4, QuickTime, HEIF): `ftyp` at offset 4, then the brand.
_FTYP_BRANDS = {
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"mif1": "image/heif",
    b"avif": "image/avif",
    b"qt  ": "video/quicktime",
    b"M4A ": "audio/mp4",
    b"3gp4": "video/3gpp",
    b"3gp5": "video/3gpp",
}

# Declared types that share a container or an encoding with what sniffing finds. A type
# not named here is compared as itself.
_FAMILIES: dict[str, str] = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
    "image/x-ms-bmp": "image/bmp",
    "image/heif": "image/heic",
    "audio/mp3": "audio/mpeg",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/x-flac": "audio/flac",
    "application/ogg": "audio/ogg",
    "video/ogg": "audio/ogg",
    "audio/opus": "audio/ogg",
    "audio/webm": "video/webm",
    "video/x-matroska": "video/webm",
    "audio/aac": "audio/aac",
    "application/x-rtf": "application/rtf",
    "text/rtf": "application/rtf",
    "application/x-zip-compressed": "application/zip",
    # ISO base media files: one container, many brands.
    "video/mp4": "iso-media",
    "audio/mp4": "iso-media",
    "audio/x-m4a": "iso-media",
    "audio/m4a": "iso-media",
    "video/quicktime": "iso-media",
    "video/3gpp": "iso-media",
    "audio/3gpp": "iso-media",
    "image/avif": "iso-media",
    "image/heic": "iso-media",
    # Office Open XML and OpenDocument files are zip archives; the older ones OLE storage.
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "application/zip",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "application/zip",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": (
        "application/zip"
    ),
    "application/vnd.oasis.opendocument.text": "application/zip",
    "application/vnd.oasis.opendocument.spreadsheet": "application/zip",
    "application/vnd.oasis.opendocument.presentation": "application/zip",
    "application/msword": "application/x-ole-storage",
    "application/vnd.ms-excel": "application/x-ole-storage",
    "application/vnd.ms-powerpoint": "application/x-ole-storage",
    "application/vnd.ms-outlook": "application/x-ole-storage",
}
_ISO_MEDIA = {"video/mp4", "audio/mp4", "image/heic", "image/heif", "image/avif"}
_ISO_MEDIA |= {"video/quicktime", "video/3gpp"}
# Formats whose bytes always carry a signature we know: declared so, they must show it.
_SIGNED_TYPES = frozenset(
    {kind for _, _, kind in _SIGNATURES} | set(_RIFF.values()) | {"iso-media"}
) - {"application/x-executable"}

DEFAULT_ALLOWED_TYPES = (
    "image/png,image/jpeg,image/gif,image/webp,image/bmp,image/tiff,image/heic,image/heif,"
    "image/avif,application/pdf,audio/*,video/*,text/plain,text/csv,text/calendar,"
    "text/vcard,text/x-vcard,application/rtf,application/msword,application/vnd.ms-excel,"
    "application/vnd.ms-powerpoint,application/vnd.openxmlformats-officedocument.*,"
    "application/vnd.oasis.opendocument.*"
)


def media_type(raw: str | None) -> str:
    """A content type without parameters, lower-cased; octet-stream when empty."""
    value = (raw or "").split(";", 1)[0].strip().lower()
    return value or OCTET_STREAM


def sniff(content: bytes) -> str | None:
    """The type the first bytes show, `text/plain` for text, None when they show nothing."""
    for offset, magic, kind in _SIGNATURES:
        if content.startswith(magic, offset):
            return kind
    if content[:4] == b"RIFF" and content[8:12] in _RIFF:
        return _RIFF[content[8:12]]
    if content[4:8] == b"ftyp":
        return _FTYP_BRANDS.get(content[8:12], "video/mp4")
    # MPEG audio frames without a tag: an 11-bit frame sync; AAC's ADTS header has layer 0.
    if len(content) > 1 and content[0] == 0xFF and content[1] & 0xE0 == 0xE0:
        return "audio/aac" if content[1] & 0x06 == 0 else "audio/mpeg"
    if content and _looks_like_text(content[:_TEXT_PROBE]):
        return "text/plain"
    return None


def _looks_like_text(probe: bytes) -> bool:
    if b"\x00" in probe:
        return False
    try:
        probe.decode("utf-8")
    except UnicodeDecodeError as error:
        # A multi-byte character cut by the probe's end is still text.
        return error.start >= len(probe) - 3
    return True


def family(kind: str) -> str:
    """The container or encoding a type shares with its kin (`image/jpg` is `image/jpeg`)."""
    if kind in _ISO_MEDIA:
        return "iso-media"
    found = _FAMILIES.get(kind, kind)
    if found.startswith("text/") and found != "text/rtf":
        return "text/plain"
    return found


@dataclass(frozen=True)
class AttachmentRules:
    """The limits a kept attachment meets: its size and the types allowed."""

    max_bytes: int
    allowed_types: tuple[str, ...]

    @classmethod
    def parse(cls, max_bytes: int, allowed: str) -> AttachmentRules:
        """Rules from the settings: a byte limit and comma-separated type patterns."""
        patterns = tuple(part.strip().lower() for part in allowed.split(",") if part.strip())
        return cls(max_bytes=max_bytes, allowed_types=patterns)

    def allows(self, kind: str) -> bool:
        return any(fnmatchcase(kind, pattern) for pattern in self.allowed_types)


@dataclass(frozen=True)
class Verdict:
    """What the bytes are (`sniffed`) and, when they are not kept, why (`refused`)."""

    sniffed: str | None
    content_type: str
    refused: str | None = None


def inspect(content: bytes, declared: str | None, rules: AttachmentRules) -> Verdict:
    """Check size, type and the agreement of bytes and claim; pure, no I/O."""
    claimed = media_type(declared)
    sniffed = sniff(content)
    # A generic claim says nothing, and a family's (`image/*`: Meta's "a photo") says only
    # the family: the bytes name the type.
    kind = sniffed if sniffed is not None and _claim_covers(claimed, sniffed) else claimed
    if len(content) > rules.max_bytes:
        reason = f"too large: {len(content)} bytes; the limit is {rules.max_bytes}"
        return Verdict(sniffed, kind, reason)
    if claimed.endswith("/*") and kind == claimed:
        shown = sniffed or "of no type we know"
        return Verdict(sniffed, kind, f"declared {claimed}, but the content is {shown}")
    if not (rules.allows(kind) or rules.allows(_FAMILIES.get(kind, kind))):
        return Verdict(sniffed, kind, f"type not allowed: {kind}")
    # Bytes of another kind than claimed (an executable named a picture) answer for themselves.
    if sniffed is not None and family(sniffed) != family(kind) and not rules.allows(sniffed):
        return Verdict(sniffed, kind, f"type not allowed: {sniffed}")
    mismatch = _mismatch(kind, sniffed)
    return Verdict(sniffed, kind, mismatch)


def _claim_covers(claimed: str, sniffed: str) -> bool:
    """Whether a claim leaves the type to the bytes: octet-stream, or their family's `x/*`."""
    if claimed == OCTET_STREAM:
        return True
    return claimed.endswith("/*") and sniffed.startswith(claimed[:-1])


def _mismatch(kind: str, sniffed: str | None) -> str | None:
    expected = family(kind)
    if sniffed is None:
        if expected in _SIGNED_TYPES or expected == "text/plain":
            return f"declared {kind}, but the content is not {kind}"
        return None
    found = family(sniffed)
    if found == expected:
        return None
    if found == "text/plain" and expected not in _SIGNED_TYPES:
        # Plain bytes that happen to be valid UTF-8 (a CSV, a vCard, an SVG-free XML):
        # no signature contradicts the claim.
        return None
    return f"declared {kind}, but the content is {sniffed}"


def safe_filename(filename: str | None, fallback: str) -> str:
    """A file name fit for a Content-Disposition header: no path, no control characters."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '"')
    return name.strip()[:255] or fallback
