"""Escaping strangers' text for Slack mrkdwn."""
from __future__ import annotations

import pytest

from alerts.escape import (
    ELLIPSIS,
    ZWSP,
    escape_mrkdwn,
    escape_truncated,
    quote_block,
    safe_link,
    safe_url,
    slack_len,
    truncate_plain,
)


@pytest.mark.parametrize(
    "raw, escaped",
    [
        ("plain words", "plain words"),
        ("<!channel> hi", "&lt;!channel&gt; hi"),
        ("<!here|here>", "&lt;!here|here&gt;"),
        ("<!everyone>", "&lt;!everyone&gt;"),
        ("ping <@U123> and <@W456|bob>", "ping &lt;@U123&gt; and &lt;@W456|bob&gt;"),
        ("see <#C1> and <!subteam^S1>", "see &lt;#C1&gt; and &lt;!subteam^S1&gt;"),
        ("<https://evil.example|your invoice>", "&lt;https://evil.example|your invoice&gt;"),
        ("AT&T > Verizon < T-Mobile", "AT&amp;T &gt; Verizon &lt; T-Mobile"),
        ("already &amp; escaped", "already &amp;amp; escaped"),  # shown literally, as the author typed it
        ("hey @channel look", f"hey @{ZWSP}channel look"),
        ("@HERE and @Everyone", f"@{ZWSP}HERE and @{ZWSP}Everyone"),
        ("@channels_fan @hereford", "@channels_fan @hereford"),  # only the broadcast words
        ("mail me: a@here.com", "mail me: a@here.com"),
        ("quotes ' \" *bold* _it_ ~s~ `code`", "quotes ' \" *bold* _it_ ~s~ `code`"),  # not entity-encoded
        ("émoji 🚀 ok", "émoji 🚀 ok"),
        ("", ""),
    ],
)
def test_escape_mrkdwn(raw: str, escaped: str) -> None:
    assert escape_mrkdwn(raw) == escaped


@pytest.mark.parametrize(
    "hostile",
    ["<!channel>", "<!here>", "<!everyone>", "<@U123>", "<#C1>", "<https://evil|click>", "<!subteam^S1|@team>"],
)
def test_no_control_sequence_survives(hostile: str) -> None:
    out = escape_mrkdwn(f"x {hostile} y")
    assert "<" not in out and ">" not in out


@pytest.mark.parametrize(
    "text, limit, expected",
    [
        ("short", 10, "short"),
        ("exactly ten", 11, "exactly ten"),
        ("a" * 20, 10, "a" * 9 + ELLIPSIS),
        ("🚀" * 10, 9, "🚀" * 4 + ELLIPSIS),  # an emoji is two units for Slack
        ("words and spaces", 11, "words and" + ELLIPSIS),
    ],
)
def test_truncate_plain(text: str, limit: int, expected: str) -> None:
    out = truncate_plain(text, limit)
    assert out == expected and slack_len(out) <= limit


@pytest.mark.parametrize(
    "text, limit, expected",
    [
        ("a&b", 10, "a&amp;b"),
        ("&&&&&", 12, "&amp;&amp;" + ELLIPSIS),  # never cut inside an entity
        ("<<<<", 9, "&lt;&lt;" + ELLIPSIS),
        ("x" * 5000, 3000, "x" * 2999 + ELLIPSIS),
        ("@channel " * 3, 16, f"@{ZWSP}channel @chan" + ELLIPSIS),
        ("@channelx and more", 9, "@channe" + ELLIPSIS),  # the cut "@channel" would need a ZWSP: no room
    ],
)
def test_escape_truncated_fits_after_escaping(text: str, limit: int, expected: str) -> None:
    out = escape_truncated(text, limit)
    assert out == expected and slack_len(out) <= limit


def test_quote_block_quotes_every_line() -> None:
    assert quote_block("one\n\ntwo") == "> one\n>\n> two"


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://x.com/bob/status/1", "https://x.com/bob/status/1"),
        ("http://example.com/a?b=1&c=2", "http://example.com/a?b=1&c=2"),
        ("https://example.com/a|b>c<d e", "https://example.com/a%7Cb%3Ec%3Cd%20e"),
        ("https://example.com/%20already", "https://example.com/%20already"),
        ("javascript:alert(1)", None),
        ("slack://channel?id=C1", None),
        ("//no-scheme.example", None),
        ("https://", None),
        ("", None),
    ],
)
def test_safe_url(url: str, expected: str | None) -> None:
    assert safe_url(url) == expected


@pytest.mark.parametrize(
    "url, label, expected",
    [
        ("https://x.com/a", "@bob", "<https://x.com/a|@bob>"),
        ("https://x.com/a?x=1&y=2", "@bob", "<https://x.com/a?x=1&amp;y=2|@bob>"),
        ("https://x.com/a", "<!channel>|x", "<https://x.com/a|&lt;!channel&gt;¦x>"),
        ("javascript:alert(1)", "@bob", "@bob"),
        ("https://x.com/a", "@channel", f"<https://x.com/a|@{ZWSP}channel>"),
    ],
)
def test_safe_link(url: str, label: str, expected: str) -> None:
    assert safe_link(url, label) == expected
