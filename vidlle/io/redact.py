"""Credentials never reach a message: URLs fit to print, and error texts cleaned of them.

Every message that names a live source or an RTSP output goes through :func:`redact` (the URL)
or :func:`scrub` (text that may quote the URL or its credentials, e.g. an FFmpeg error).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

# Query keys whose values are treated as secrets (``?token=...&user=...``).
_SECRET_KEYS = re.compile(r"pass|pwd|token|secret|key|auth|sig|user|login|cred", re.IGNORECASE)


def redact(url: str) -> str:
    """``url`` fit to print: user/password replaced by ``***``, secret-looking query values too.

    >>> redact("rtsp://admin:hunter2@cam.local:554/live?token=abc&ch=1")
    'rtsp://***@cam.local:554/live?token=***&ch=1'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unprintable url>"
    if not parts.scheme or not parts.netloc:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if _SECRET_KEYS.search(k) else v) for k, v in pairs], safe="*/:")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _secrets(url: str) -> list[str]:
    """The credential substrings of ``url`` (raw and percent-decoded), longest first."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        found += [userinfo, *userinfo.split(":", 1)]
        for value in (parts.username, parts.password):
            if value:
                found += [value, unquote(value)]
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        if v and _SECRET_KEYS.search(k):
            found += [v, quote(v, safe="")]
    return sorted({s for s in found if len(s) >= 2}, key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """``text`` (e.g. an FFmpeg error) with ``url`` and its credentials replaced by redacted forms."""
    text = text.replace(url, redact(url))
    for secret in _secrets(url):
        text = text.replace(secret, "***")
    return text
