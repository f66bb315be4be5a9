"""The Content-Security-Policy of the pages the app serves (GraphiQL, the admin console).

Everything a page loads comes from the app itself: scripts and styles from 'self' only, no
inline script, no other origin. What differs between pages is passed in (GraphiQL needs a
nonce for the one <style> its dialogs add, and data: fonts).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.requests import HTTPConnection

# A Host header worth naming in connect-src: a name or bracketed IPv6 literal and a port.
_HOST = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def content_security_policy(
    request: HTTPConnection, *, style: Sequence[str] = ("'self'",), fonts: bool = False
) -> str:
    """The policy for one response: `style` sources for style-src; `fonts` allows data: fonts."""
    connect = ["'self'"]
    host = request.headers.get("host", "")
    if _HOST.fullmatch(host):
        # CSP Level 3 lets 'self' cover ws:/wss: of the page's host (Chromium, Firefox); older
        # Safari does not: the subscriptions' socket is named outright.
        connect += [f"ws://{host}", f"wss://{host}"]
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src " + " ".join(style),
            "img-src 'self' data:",  # a few icons are drawn as data: images
            *(["font-src 'self' data:"] if fonts else []),  # GraphiQL ships its fonts inline
            "connect-src " + " ".join(connect),
            "base-uri 'none'",
            "form-action 'none'",  # forms are handled by script; none is ever posted
            "frame-ancestors 'none'",
        ]
    )
