"""Outbox handler for notices through apprise ("apprise.notice"): any channel apprise knows by URL
(`json://`, `ntfy://`, `discord://`, `msteams://`, …) — the one place apprise is called and its
outcome translated.

The rows carry the notice's title and text (rendered and checked by outreach/notices.py like an
e-mail) and, as target, the subscriber's ref (a hash; lane `apprise:<ref>`): the URL itself holds
the channel's token, so it stays in the config (from the environment) and never reaches the
database, the logs or `outbox list`.

apprise answers only "delivered" or "not": a failure is retried with the outbox's backoff and
given up after `outbox.give_up_after` like any other; a URL apprise does not understand is
refused when the config loads (monitor/health_config.py), never at 3 a.m.
"""
from __future__ import annotations

import asyncio
from collections.abc import Mapping

import apprise

from monitor.delivery import OutboxItem, PermanentFailure, RetryLater

KIND = "apprise.notice"


def understood(url: str) -> bool:
    """Whether apprise knows this URL's scheme and can parse it (for the config's validation)."""
    return bool(apprise.Apprise().add(url))


class AppriseDelivery:
    kind = KIND
    min_interval = 0.0

    def __init__(self, urls: Mapping[str, str]) -> None:
        self.urls = dict(urls)  # the subscriber's ref -> its URL (a secret: it holds the channel's token)

    async def deliver(self, item: OutboxItem) -> str:
        url = self.urls.get(item.target)
        if url is None:
            raise PermanentFailure(f"apprise subscriber {item.target} is no longer configured")
        notifier = apprise.Apprise()
        if not notifier.add(url):
            raise PermanentFailure(f"apprise subscriber {item.target}: apprise does not understand its URL")
        p = item.payload
        # apprise is synchronous (requests): in a thread, so the daemon's loop goes on meanwhile
        ok = await asyncio.to_thread(notifier.notify, body=p["text"], title=p["subject"],
                                     body_format=apprise.NotifyFormat.TEXT)
        if not ok:
            raise RetryLater(f"apprise subscriber {item.target}: apprise could not deliver the notice")
        return "delivered"

    async def reconcile(self, item: OutboxItem) -> str | None:
        return None  # nothing to ask afterwards: a notice in doubt is sent again (at least once)
