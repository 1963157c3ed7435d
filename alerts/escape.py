"""Making text from strangers safe to show in Slack.

Slack's mrkdwn treats `&`, `<` and `>` as control characters: `<!channel>` pings a whole channel,
`<@U123>` pings a person, `<https://evil|your invoice>` hides where a link goes. Slack's formatting
reference says to replace exactly those three with `&amp;`, `&lt;`, `&gt;` (and nothing else, or the
entities show up literally). Bare `@channel`/`@here`/`@everyone` only become pings when a message is
sent with `link_names` or parsed in a non-verbatim text object, but a zero-width space after the `@`
makes sure they never do, whatever a later edit of a Block Kit builder sets.

Bidirectional controls (embeddings, overrides and isolates U+202A–U+202E, U+2066–U+2069, the marks
U+200E/U+200F and U+061C) let a post reorder what is shown after them: "invoice‮fdp.exe" reads as
"invoiceexe.pdf", and an override can run on into the text we put after it. They are invisible, so
they are removed from everything shown (mrkdwn and plain text alike); the letters themselves stay.
Every builder in alerts/ passes strangers' text through `escape_mrkdwn`, `escape_truncated` or
`truncate_plain`, so this is the one place.
"""
from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

ZWSP = "\u200b"
ELLIPSIS = "…"

BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
_NO_BIDI = str.maketrans(dict.fromkeys(BIDI_CONTROLS))
_CONTROL = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", **dict.fromkeys(BIDI_CONTROLS)})
_BROADCAST = re.compile(r"(?<![\w.])@(channel|here|everyone)\b", re.IGNORECASE)


def escape_mrkdwn(text: str) -> str:
    """`text` as it should appear, literally, inside a mrkdwn (or fallback `text`) string."""
    out = text.translate(_CONTROL)  # on the ingest hot path: translate is ~20x a per-character join
    if "@" not in out:
        return out
    return _BROADCAST.sub(lambda m: "@" + ZWSP + m.group(1), out)


def neutralise_bidi(text: str) -> str:
    """`text` without bidirectional control characters (for plain-text fields, which need no escaping)."""
    return text if text.isascii() else text.translate(_NO_BIDI)


def slack_len(text: str) -> int:
    """Length as Slack counts it for its limits (UTF-16 code units: an emoji counts as two)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def truncate_plain(text: str, limit: int) -> str:
    """At most `limit` characters (Slack's count), cut at a character with an ellipsis when cut; without
    bidirectional controls (this is what plain-text fields show)."""
    text = neutralise_bidi(text)
    if slack_len(text) <= limit:
        return text
    out: list[str] = []
    used = slack_len(ELLIPSIS)
    for ch in text:
        n = slack_len(ch)
        if used + n > limit:
            break
        out.append(ch)
        used += n
    return "".join(out).rstrip() + ELLIPSIS


def escape_truncated(text: str, limit: int) -> str:
    """Escaped `text` that fits in `limit` characters after escaping; never cuts inside an entity."""
    escaped = escape_mrkdwn(text)
    if slack_len(escaped) <= limit:
        return escaped
    budget = limit - slack_len(ELLIPSIS)
    lo, hi = 0, len(text)
    # the longest prefix of the raw text whose escaped form fits (escaping only grows text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if slack_len(escape_mrkdwn(text[:mid])) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return escape_mrkdwn(text[:lo]).rstrip() + ELLIPSIS


def quote_block(escaped: str) -> str:
    """A mrkdwn block quote of already escaped text, one `>` per line so a newline cannot end it."""
    return "\n".join(">" + (" " + line if line else "") for line in escaped.split("\n"))


def safe_link(url: str, label: str) -> str:
    """A mrkdwn link `<url|label>` for an http(s) URL, or the escaped label alone when the URL is unsafe."""
    safe = safe_url(url)
    if safe is None:
        return escape_mrkdwn(label)
    # inside a link `|` would end the URL part of the label early; a broken bar reads the same
    return f"<{safe.replace('&', '&amp;')}|{escape_mrkdwn(label).replace('|', '¦')}>"


_URL_SAFE = ":/?#[]@!$&'()*+,;=%~-._"  # `|`, `<`, `>`, quotes and spaces get percent-encoded


def safe_url(url: str) -> str | None:
    """The URL fit for a button's `url` (or, `&`-escaped, for a link), or None unless it is http(s)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    safe = quote(url, safe=_URL_SAFE)
    return safe if len(safe) <= 3000 else None  # Slack's limit for a button url
