"""Reading a request body as the local host receives it: bounded and decoded.

aiohttp undoes a single ``Content-Encoding`` of ``gzip`` or ``deflate`` (and
``br`` / ``zstd`` when their libraries are installed) while the body is read;
a body that is not what its header says fails that read. Here such a body,
and any coding aiohttp leaves alone (``compress``, ``gzip, gzip``, a header
that is not ASCII), is ``BadInput`` with the reason, so the host answers 400
instead of its own error page. The limit applies to the decoded body, so a
small compressed body cannot expand without bound.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.compression_utils import HAS_BROTLI, HAS_ZSTD
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from shared.errors import BadInput

DECODED = frozenset(
    {"gzip", "deflate"} | ({"br"} if HAS_BROTLI else set()) | ({"zstd"} if HAS_ZSTD else set())
)
"""The codings aiohttp decodes while reading (only as the header's single coding)."""


def check_content_encoding(value: str | None) -> str | None:
    """The one coding the body is read through, None for none; ``BadInput`` otherwise."""
    if value is None:
        return None
    codings = [c.strip().lower() for c in value.split(",") if c.strip()]
    applied = [c for c in codings if c != "identity"]
    if not applied:
        return None
    shown = value.encode("ascii", "backslashreplace").decode("ascii")[:60]
    if not value.isascii() or len(codings) != 1 or applied[0] not in DECODED:
        raise BadInput(
            f"Content-Encoding '{shown}' is not supported "
            f"(send one of {', '.join(sorted(DECODED))}, or none)"
        )
    return applied[0]


async def read_body(request: web.Request, limit: int) -> bytes | None:
    """The decoded body, or None once it is over ``limit`` bytes (the rest is never buffered).

    ``BadInput`` when the body cannot be decoded as its ``Content-Encoding`` says.
    """
    coding = check_content_encoding(request.headers.get("Content-Encoding"))
    if request.content_length is not None and request.content_length > limit:
        return None
    if not request.body_exists:
        return b""
    chunks = bytearray()
    while True:
        try:
            chunk = await request.content.read(limit + 1 - len(chunks))
        except (RequestPayloadError, HttpProcessingError) as exc:
            what = f"valid {coding} data" if coding else "a complete body"
            raise BadInput(f"the request body is not {what} ({_cause(exc)})") from None
        if not chunk:
            return bytes(chunks)
        chunks += chunk
        if len(chunks) > limit:
            return None


def _cause(exc: BaseException) -> str:
    """The innermost reason aiohttp gives (its wrappers carry empty messages)."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return str(exc) or type(exc).__name__


def valid_text(value: str) -> str:
    """A header value as valid text: bytes that were not UTF-8 become U+FFFD.

    aiohttp hands such bytes on as surrogate escapes, which nothing
    downstream (the worker's protobuf, the store, a log line) can encode.
    """
    if value.isascii():
        return value
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = value.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "replace")
