"""The digest as a Slack post: a short Block Kit summary (pure), and the outbox rows that post it
and then its chart in the summary's thread (files_upload_v2, see alerts/slack_files.py)."""
from __future__ import annotations

import base64
from typing import Any

from alerts.escape import escape_mrkdwn, escape_truncated, quote_block, safe_link, truncate_plain
from alerts.slack_files import KIND as FILE_KIND
from monitor.outbox import NewEffect

SUMMARY_CHART = "volume"


def summary_message(d: dict[str, Any], page_url: str = "") -> dict[str, Any]:
    v, s, th, cv = d["volume"], d["sentiment"], d["themes"], d["coverage"]
    fields = [f"*Mentions*\n{escape_mrkdwn(v['text'])}" if v["status"] == "ok" else "*Mentions*\nnone"]
    if v["status"] == "ok":
        fields.append(f"*Complaints*\n{escape_mrkdwn(v['complaints_text'])}")
        fields.append(f"*Reach*\n{v['reach_text']} followers")
    if s["status"] == "ok":
        fields.append(f"*Tone*\n{escape_mrkdwn(s['text'])}")
    care, inc = d["care"], d["incidents"]
    if care.get("status") == "ok" and care["first_response"]["status"] == "ok":
        fields.append(f"*Care*\n{escape_mrkdwn(care['first_response']['text'])}")
    if inc.get("status") == "ok":
        fields.append(f"*Incidents*\n{escape_mrkdwn(inc['text'])}")
    sv = d["share_of_voice"]
    if sv["status"] == "ok":
        fields.append("*Share of voice*\n" + escape_mrkdwn(sv["voices"][0]["text"]))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": truncate_plain(d["title"], 150)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": escape_mrkdwn(
            f"{d['period']['from_text']} – {d['period']['to_text']} ({d['period']['tz']}), vs {d['period']['versus']}")}]},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields[:10]]},
    ]
    if th["status"] == "ok" and th["rose"]:
        rose = ", ".join(escape_mrkdwn(t["text"]) for t in th["rose"][:3])
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Themes that rose:* {rose}"}})
    top = d["top_posts"].get("by_reach") or []
    if top:
        p = top[0]
        link = safe_link(p["url"], "open") if p.get("url") else ""
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text":
                       f"*Widest reach:* @{escape_mrkdwn(p['author'])} ({p['followers_text']} followers) {link}\n"
                       + quote_block(escape_truncated(p["text"], 500))}})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": escape_mrkdwn(cv["text"])}]})
    if page_url:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": safe_link(page_url, "The full digest, with charts and a CSV of the mentions")}})
    text = f"{d['title']}: " + (v["text"] if v["status"] == "ok" else "no mentions")
    return {"text": truncate_plain(text, 3000), "blocks": blocks}


def effects(key: str, d: dict[str, Any], pngs: dict[str, bytes], channel: str, page_url: str) -> list[NewEffect]:
    """The summary, then the chart in its thread (the outbox holds the chart until the summary is posted)."""
    about = f"digest:{key}"
    out = [NewEffect(f"digest.slack:{key}", "slack.message", channel, summary_message(d, page_url), priority=3,
                     about=about)]
    png = pngs.get(SUMMARY_CHART)
    if png is not None:
        out.append(NewEffect(f"digest.slack_chart:{key}", FILE_KIND, channel, {
            "filename": f"{SUMMARY_CHART}.png", "title": f"{d['title']}: mentions per day",
            "content_b64": base64.b64encode(png).decode()}, priority=3, about=about, thread_of=about))
    return out
