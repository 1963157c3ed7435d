"""The Block Kit alert for one mention: shape, limits, escaping, stable actions."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import pytest

from alerts.escape import slack_len
from alerts.mention_alert import (
    ACTION_APPROVE_REPLY,
    ACTION_CLAIM,
    ACTION_ESCALATE,
    ACTION_OPEN,
    ACTION_RELABEL,
    MentionView,
    build_mention_alert,
)
from monitor.models import Author, Mention, Verdict

BASE = MentionView(
    mention_id=42,
    source="x",
    external_id="1790000000000000001",
    text="My card was charged twice and the app is down. @acme fix this",
    urgency="high",
    category="billing",
    author_username="jane_doe",
    author_name="Jane Doe",
    author_followers=12_345,
    url="https://x.com/jane_doe/status/1790000000000000001",
    created_at=1_700_000_000.0,
    score=81,
    confidence=0.74,
    sentiment=-0.62,
    reasons=("matched billing words: 'charged twice'", "negative sentiment (-0.62)"),
    ticket_id=7,
)
HOSTILE = "<!channel> hi <@U123> <#C1> <!subteam^S1> <https://evil.example|your refund> @here @everyone"


def _texts(node: Any) -> list[str]:
    """Every `text` string anywhere in the blocks."""
    out: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "text" and isinstance(v, str):
                out.append(v)
            else:
                out += _texts(v)
    elif isinstance(node, list):
        for v in node:
            out += _texts(v)
    return out


def _limits_problems(msg: dict[str, Any]) -> list[str]:
    """Block Kit limits, checked independently of the builder's own constants."""
    problems = []
    blocks = msg["blocks"]
    if not msg["text"]:
        problems.append("no fallback text")
    if len(blocks) > 50:
        problems.append("more than 50 blocks")
    action_ids: list[str] = []
    for b in blocks:
        if b["type"] == "header":
            if b["text"]["type"] != "plain_text" or not 1 <= slack_len(b["text"]["text"]) <= 150:
                problems.append("header")
        if b["type"] == "section":
            if "text" in b and not 1 <= slack_len(b["text"]["text"]) <= 3000:
                problems.append("section text")
            for f in b.get("fields", []):
                if not 1 <= slack_len(f["text"]) <= 2000:
                    problems.append("field")
            if len(b.get("fields", [])) > 10:
                problems.append("fields")
        if b["type"] == "actions":
            for e in b["elements"]:
                action_ids.append(e["action_id"])
                if not 1 <= slack_len(e["text"]["text"]) <= 75 or len(e.get("value", "")) > 2000:
                    problems.append("button")
    if len(action_ids) != len(set(action_ids)):
        problems.append("duplicate action_id")
    return problems


def _actions(msg: dict[str, Any]) -> dict[str, Any]:
    (block,) = [b for b in msg["blocks"] if b["type"] == "actions"]
    return block


@pytest.mark.parametrize(
    "view",
    [
        BASE,
        replace(BASE, text=HOSTILE, author_name=HOSTILE, author_username="<!here>", reasons=(HOSTILE,)),
        replace(BASE, text="x&<>" * 2000, reasons=tuple(f"reason {i} " + "&" * 500 for i in range(30))),
        replace(BASE, text="🚀" * 5000, author_name="名前" * 200, category="c" * 400),
        replace(BASE, text="", author_username="", author_name="", url="", reasons=(), ticket_id=None,
                created_at=0.0),
        replace(BASE, url="javascript:alert(document.cookie)"),
        replace(BASE, urgency="critical", category="security_account", source="reddit", author_followers=3_400_000),
        replace(BASE, urgency="something_new", source="mastodon"),
        replace(BASE, url="https://x.com/?" + "&" * 2900, author_username="&" * 128),
    ],
    ids=["typical", "hostile", "long-and-ampersands", "wide-chars", "bare", "js-url", "critical-reddit", "unknown",
         "monstrous-url"],
)
def test_every_alert_fits_block_kit_and_pings_nobody(view: MentionView) -> None:
    msg = build_mention_alert(view)
    assert set(msg) == {"text", "blocks"}
    assert _limits_problems(msg) == []
    everything = json.dumps(msg, ensure_ascii=False)
    for raw in ("<!channel>", "<!here", "<@U123>", "<#C1>", "<!subteam", "<https://evil", "javascript:"):
        assert raw not in everything
    for text in [msg["text"], *_texts(msg["blocks"])]:
        for word in ("@here", "@channel", "@everyone"):
            assert word not in text
    # links only where we put them: the post's own URL, and the date token
    links = [t for t in _texts(msg["blocks"]) if "<http" in t]
    assert all(view.url and view.url in t for t in links)


def test_typical_alert_reads_well() -> None:
    msg = build_mention_alert(BASE)
    header, who, post, facts, reasons, footer, actions = msg["blocks"]
    assert header == {"type": "header",
                      "text": {"type": "plain_text", "text": ":red_circle: High · Billing · X", "emoji": True}}
    assert who["text"]["text"] == f"*<{BASE.url}|@jane_doe>* · Jane Doe · 12k followers"
    assert post["text"] == {"type": "mrkdwn", "text": "> " + BASE.text, "verbatim": True}
    assert [f["text"] for f in facts["fields"]] == [
        "*Score · confidence*\n81/100 · 74%",
        "*Sentiment*\n-0.62 (negative)",
        "*Ticket*\n#7",
        "*Posted*\n<!date^1700000000^{date_short_pretty} {time}|2023-11-14 22:13 UTC>",
    ]
    assert reasons["text"]["text"] == (
        "*Why it was flagged*\n• matched billing words: 'charged twice'\n• negative sentiment (-0.62)")
    assert footer["elements"][0]["text"] == "mention 42 · X id 1790000000000000001 · ticket #7"
    assert msg["text"] == ("High billing mention from @jane_doe on X: My card was charged twice and the app is "
                           "down. @acme fix this")
    assert actions["type"] == "actions"


def test_actions_have_stable_ids_and_carry_the_mention_id() -> None:
    actions = _actions(build_mention_alert(BASE))
    assert actions["block_id"] == "mention_actions:42"
    assert [e["action_id"] for e in actions["elements"]] == [
        ACTION_CLAIM, ACTION_APPROVE_REPLY, ACTION_RELABEL, ACTION_ESCALATE, ACTION_OPEN]
    assert {e["value"] for e in actions["elements"]} == {"42"}
    assert actions["elements"][-1]["url"] == BASE.url
    assert [e.get("style") for e in actions["elements"]] == ["primary", None, None, "danger", None]


@pytest.mark.parametrize("url", ["", "javascript:alert(1)", "ftp://files.example/x"])
def test_no_open_button_without_a_safe_url(url: str) -> None:
    msg = build_mention_alert(replace(BASE, url=url))
    assert ACTION_OPEN not in [e["action_id"] for e in _actions(msg)["elements"]]
    assert "<" not in msg["blocks"][1]["text"]["text"]


@pytest.mark.parametrize(
    "text, shown_chars",
    [("a" * 1500, 1500), ("a" * 1501, 1499), ("&" * 1000, 299)],  # &amp; is 5: 299*5 + "…" ≤ 1500
)
def test_long_posts_are_cut_to_a_readable_length(text: str, shown_chars: int) -> None:
    post = build_mention_alert(replace(BASE, text=text))["blocks"][2]["text"]["text"]
    body = post.removeprefix("> ").removesuffix("…")
    assert body.replace("&amp;", "&") == text[:shown_chars]
    assert post.endswith("…") == (shown_chars < len(text))


def test_multiline_post_stays_inside_the_quote() -> None:
    post = build_mention_alert(replace(BASE, text="line one\n\n*not bold?*\nline three"))["blocks"][2]
    assert post["text"]["text"] == "> line one\n>\n> *not bold?*\n> line three"


@pytest.mark.parametrize(
    "followers, shown",
    [(0, "0 followers"), (999, "999 followers"), (9_999, "9,999 followers"), (12_345, "12k followers"),
     (3_400_000, "3.4M followers")],
)
def test_follower_counts(followers: int, shown: str) -> None:
    who = build_mention_alert(replace(BASE, author_followers=followers))["blocks"][1]["text"]["text"]
    assert who.endswith(shown)


@pytest.mark.parametrize(
    "reasons, lines",
    [((), None), (("one",), ["• one"]), (tuple(str(i) for i in range(10)), [f"• {i}" for i in range(8)] + ["_and 2 more_"])],
)
def test_reasons(reasons: tuple[str, ...], lines: list[str] | None) -> None:
    blocks = build_mention_alert(replace(BASE, reasons=reasons))["blocks"]
    found = [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b
             and b["text"]["text"].startswith("*Why")]
    assert found == ([] if lines is None else ["*Why it was flagged*\n" + "\n".join(lines)])


def test_payload_round_trip_through_json() -> None:
    payload = json.loads(json.dumps(BASE.to_payload()))
    assert payload["reasons"] == list(BASE.reasons)
    assert MentionView.from_payload(payload) == BASE
    assert MentionView.from_payload({**payload, "added_later": 1}) == BASE  # tolerant of newer writers


def test_from_models() -> None:
    mention = Mention(source="x", external_id="9", text="down again", url="https://x.com/a/status/9",
                      author=Author(id="1", username="a", name="A", followers=5),
                      created_at=datetime(2026, 1, 1, tzinfo=timezone.utc))
    verdict = Verdict(urgency="critical", category="outage", complaint=True, actionable=True, sentiment=-0.5,
                      score=95, confidence=0.9, reasons=("outage words",))
    view = MentionView.from_models(3, mention, verdict, ticket_id=11)
    assert view == MentionView(
        mention_id=3, source="x", external_id="9", text="down again", urgency="critical", category="outage",
        author_username="a", author_name="A", author_followers=5, url="https://x.com/a/status/9",
        created_at=datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp(), score=95, confidence=0.9,
        sentiment=-0.5, reasons=("outage words",), ticket_id=11)
