"""A known set of stored mentions (November 2026, brand time Europe/Paris) for the digest tests."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from monitor.storage.schema import coverage_events, incidents, mentions, tickets

PARIS = ZoneInfo("Europe/Paris")


def at(day: int, hour: int, minute: int = 0) -> float:
    """November 2026, Paris time."""
    return datetime(2026, 11, day, hour, minute, tzinfo=PARIS).timestamp()


START, END = at(23, 0), at(30, 0)  # Monday 23 to Monday 30 November, brand time

# (source, stream, author, followers, text, created, category, complaint, sentiment, metrics, own)
ROWS = [
    ("x", "search:acme", "ann", 1000, "Refund delayed again, acme support please", at(24, 10), "billing", True, -0.6,
     {"like_count": 3, "retweet_count": 1, "impression_count": 500}, False),
    ("x", "search:acme", "bob", 50_000, "refund delayed for my order", at(24, 11), "billing", True, -0.4,
     {"like_count": 10}, False),
    ("reddit", "search:acme", "carl", 200, "Refund delayed, still", at(25, 9), "billing", True, -0.5,
     {"score": 5, "num_comments": 2, "ups": 5}, False),
    ("x", "mentions:acme", "ann", 1000, "love the new app", at(26, 12), "praise", False, 0.8, None, False),
    ("x", "search:acme", "acme", 90_000, "we are on it", at(26, 13), None, None, None, None, True),
    ("x", "search:globex", "gil", 5, "globex is great", at(27, 8), "praise", False, 0.5, None, False),
    ("x", "search:acme", "dan", 10, "question about shipping", at(29, 23, 30), "question", False, 0.0, None, False),
    ("x", "search:acme", "eve", 10, "just after the period", at(30, 0), "question", False, 0.0, None, False),
    # the week before
    ("x", "search:acme", "eve", 100, "shipping slow", at(17, 10), "delivery", True, -0.3, None, False),
    ("x", "search:acme", "ann", 1000, "love acme", at(18, 10), "praise", False, 0.6, None, False),
    ("x", "search:globex", "gil", 5, "globex sale", at(18, 11), "praise", False, None, None, False),
    ("x", "search:globex", "hal", 5, "globex again", at(19, 11), "praise", False, None, None, False),
]


async def store(engine) -> None:
    rows = []
    for i, (src, stream, author, fol, text, created, cat, compl, sent, metrics, own) in enumerate(ROWS, 1):
        rows.append({"id": i, "source": src, "external_id": str(i), "stream": stream, "author_id": author,
                     "author_username": author, "author_name": author.title(), "author_followers": fol, "text": text,
                     "url": f"https://x.com/{author}/status/{i}", "conversation_id": str(i), "in_reply_to": "",
                     "quoted_id": "", "lang": "en", "metrics": metrics, "is_own": own, "created_at": created,
                     "fetched_at": created, "urgency": None if own else "normal", "category": cat,
                     "complaint": compl, "actionable": None, "sentiment": sent, "score": None, "confidence": None,
                     "reasons": None, "ticket_id": None, "incident_id": 1 if author == "carl" else None})
    async with engine.begin() as conn:
        await conn.execute(insert(mentions), rows)
        await conn.execute(insert(tickets), [
            {"root_key": k, "source": "x", "author_id": "a", "status": "open", "urgency": "high", "opened_at": t,
             "updated_at": t, "first_response_at": answered, "solved_at": solved}
            for k, t, answered, solved in (
                ("x:1", at(24, 10), at(24, 10, 30), at(25, 10)),  # answered after 30 min, solved next day
                ("x:2", at(24, 11), at(24, 13), None),  # answered after 2 h
                ("x:3", at(26, 9), None, None),  # not answered
                ("x:9", at(17, 10), at(17, 10, 5), at(17, 12)))])  # the week before
        await conn.execute(insert(incidents), [
            {"id": 1, "service": "api", "title": "Login failures", "status": "resolved", "impact": "major",
             "public": True, "opened_by": "check:api", "opened_at": at(25, 8), "updated_at": at(25, 11),
             "resolved_at": at(25, 11)},
            {"id": 2, "service": "app", "title": "Old outage", "status": "resolved", "impact": "minor",
             "public": True, "opened_by": "check:app", "opened_at": at(19, 8), "updated_at": at(19, 9),
             "resolved_at": at(19, 9)},
            {"id": 3, "service": "checkout", "title": "Possible incident: complaints about checkout",
             "status": "investigating", "impact": "minor", "public": False, "opened_by": "spike",
             "opened_at": at(29, 20), "updated_at": at(29, 20), "resolved_at": None}])
        await conn.execute(insert(coverage_events), [
            {"source": "x", "stream": "", "kind": "failing", "start_at": at(29, 22), "end_at": at(29, 23),
             "detail": "TransientError: 503"},
            {"source": "x", "stream": "", "kind": "paused", "start_at": at(20, 1), "end_at": at(20, 2), "detail": ""},
            {"source": "reddit", "stream": "", "kind": "throttled", "start_at": at(29, 12), "end_at": None,
             "detail": "rate limit"}])
