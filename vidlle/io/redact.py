"""Credentials never reach a message: URLs fit to print, and error texts cleaned of them.

Every message that names a live source or an RTSP output goes through :func:`redact` (the URL)
or :func:`scrub` (text that may quote the URL or its credentials, e.g. an FFmpeg error).
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

# Keys whose values are treated as secrets, in a query (``?token=...``) or in a path
# (``/user=admin&password=...&channel=1``, ``;password=...``): the key contains one of these.
_SECRET_KEYS = re.compile(r"pass|pwd|pw|token|secret|key|auth|sig|user|login|cred", re.IGNORECASE)
# scheme://rest, any scheme, any case (a typo such as rstp:// is still a URL that may hold a password).
URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.DOTALL)
# key=value after a separator; the value runs to the next separator.
_PAIR = re.compile(r"(?P<sep>[/?&;#])(?P<key>[^/?&;#=]+)=(?P<value>[^/?&;#]*)")
# URLs inside a longer text (an error message).
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


def _split(url: str) -> tuple[str, str | None, str] | None:
    """(scheme, userinfo or None, everything after it) of ``url``; None when it is not a URL.

    The userinfo ends at the *last* ``@``: a password may hold unescaped ``/``, ``?``, ``#`` or
    ``@``, and hiding too much of a URL is better than printing a password.
    """
    m = URL.match(url)
    if m is None:
        return None
    scheme, rest = m.groups()
    if "@" in rest:
        userinfo, rest = rest.rsplit("@", 1)
        return scheme, userinfo, rest
    return scheme, None, rest


def redact(url: str) -> str:
    """``url`` fit to print: user/password replaced by ``***``, secret-looking ``key=value``
    values too (query, path or fragment). Text that is not a URL is returned as it is.

    >>> redact("rtsp://admin:hunter2@cam.local:554/live?token=abc&ch=1")
    'rtsp://***@cam.local:554/live?token=***&ch=1'
    >>> redact("rtsp://cam/user=admin&password=pw&channel=1")
    'rtsp://cam/user=***&password=***&channel=1'
    """
    parts = _split(url)
    if parts is None:
        return url
    scheme, userinfo, rest = parts
    rest = _PAIR.sub(lambda m: f"{m['sep']}{m['key']}=***" if _SECRET_KEYS.search(m["key"]) else m[0], rest)
    return f"{scheme}://{'***@' if userinfo is not None else ''}{rest}"


def redact_text(text: str) -> str:
    """``text`` with every URL in it redacted (the last guard before a message is printed)."""
    return _URL_IN_TEXT.sub(lambda m: redact(m[0]), text)


def _secrets(url: str) -> list[str]:
    """The credential substrings of ``url`` (raw and percent-coded both ways), longest first."""
    parts = _split(url)
    if parts is None:
        return []
    _, userinfo, rest = parts
    found = []
    if userinfo is not None:
        found += [userinfo, *userinfo.split(":", 1)]
    for m in _PAIR.finditer(rest):
        if m["value"] and _SECRET_KEYS.search(m["key"]):
            found.append(m["value"])
    found += [form for s in found for form in (unquote(s), quote(s, safe=""))]
    return sorted({s for s in found if len(s) >= 2}, key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """``text`` (e.g. an FFmpeg error) with ``url`` and its credentials replaced by redacted forms."""
    text = text.replace(url, redact(url))
    for secret in _secrets(url):
        text = text.replace(secret, "***")
    return redact_text(text)
