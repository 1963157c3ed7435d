"""The outbox handler that uploads a file (a digest's chart) to Slack (kind "slack.file") with
slack-sdk's `files_upload_v2`: files.getUploadURLExternal, the bytes POSTed to the URL it returns,
then files.completeUploadExternal sharing it in the channel — in the thread of the message the row
is about when the outbox resolved one (`item.parent`).

Payload: `{"filename", "title", "content_b64"}`. Errors are translated where every Slack error is
(`alerts.slack_delivery._translate`). A crash between Slack sharing the file and the row being
marked sent uploads it again on restart: a duplicate chart is the price (files have no metadata we
could look up as messages have).
"""
from __future__ import annotations

import asyncio
import base64
import binascii

import aiohttp
from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from alerts.slack_delivery import _translate
from monitor.delivery import OutboxItem, PermanentFailure

KIND = "slack.file"


class SlackFileDelivery:
    kind = KIND

    def __init__(self, client: AsyncWebClient, *, min_interval: float = 1.0) -> None:
        self._client = client
        self._min_interval = min_interval

    @property
    def min_interval(self) -> float:
        return self._min_interval

    async def deliver(self, item: OutboxItem) -> str:
        p = item.payload
        try:
            content = base64.b64decode(p["content_b64"], validate=True)
        except (KeyError, binascii.Error, TypeError) as e:
            raise PermanentFailure(f"the file row has no readable content: {e}") from e
        channel = item.parent.channel_id if item.parent is not None else item.target
        thread_ts = (item.parent.thread_ts or item.parent.ts) if item.parent is not None else None
        if item.parent is None and channel.startswith("#"):
            # completeUploadExternal wants a channel id; a row with no parent message names it by `#name`
            raise PermanentFailure(f"a file needs a channel id, not {channel}, or a message to thread under")
        try:
            resp = await self._client.files_upload_v2(
                channel=channel, thread_ts=thread_ts, file=content, filename=p.get("filename", "chart.png"),
                title=p.get("title") or p.get("filename", "chart"))
        except (SlackClientError, aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            raise _translate(e, "files_upload_v2", channel) from e
        return str((resp.get("file") or {}).get("id") or "")  # a file, not a message: not in the registry

    async def reconcile(self, item: OutboxItem) -> None:
        return None  # see the module docstring: uploaded again
