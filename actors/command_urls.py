"""URLs inside operator commands (firmware and log locations, CSMS URLs): whether one is a URI, and the same URL with its credentials masked.

Stations fetch firmware from, and upload logs to, locations an operator names; those often
carry credentials: `ftp://user:password@host/...` (RFC 3986 section 3.2.1 userinfo, which it
deprecates for exactly this reason) or a presigned URL whose query holds a signature or token.
What the log, the lake and the API keep is `masked_url(url)`; the station gets the URL as sent.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

MASK = "***"
# The URL fields of the 2.0.1 commands are string[512] (FirmwareType.location, ...).
MAX_URL_LENGTH = 512

# RFC 3986 section 3: a scheme, a colon, then something; a station can fetch nothing from a
# location without a scheme (the 2.0.1 schemas give these fields no format).
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S+")

# Query parameters that carry a credential: presigned object-store URLs (X-Amz-Signature,
# X-Amz-Credential, X-Amz-Security-Token; Azure's sig), tokens, keys, passwords.
_SECRET_PARAMETER = re.compile(r"(signature|sig|token|key|password|passwd|pass|pwd|secret|credential|auth)",
                               re.IGNORECASE)


def is_uri(text: str) -> bool:
    return _URI.fullmatch(text) is not None


def masked_url(url: str) -> str:
    """The URL with its userinfo (user and password: a user name may itself be a token) and
    the values of credential-like query parameters replaced by MASK; anything that does not
    parse as a URL with a host is returned unchanged (it holds no userinfo to mask)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_SECRET_PARAMETER.search(name) for name, _ in pairs):
            query = "&".join(
                f"{quote(name, safe='')}={MASK if _SECRET_PARAMETER.search(name) else quote(value, safe='')}"
                for name, value in pairs
            )
    if netloc == parts.netloc and query == parts.query:
        return url
    masked = urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    if len(masked) > max(len(url), MAX_URL_LENGTH):  # it must still fit the field it came from
        masked = urlunsplit((parts.scheme, netloc, parts.path, MASK if query else "", parts.fragment))
    return masked
