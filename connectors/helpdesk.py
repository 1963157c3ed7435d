"""What a helpdesk (Zendesk, Freshdesk) connector offers the sync, its config, and its HTTP errors.

Each service has its own module (connectors/zendesk.py, connectors/freshdesk.py) speaking its
documented REST API; both send every request through `request()` here, the one place where HTTP
answers and aiohttp's errors become the connectors' error vocabulary (connectors/base.py):

| answer                                  | error                                    |
|-----------------------------------------|------------------------------------------|
| 429 (Retry-After honoured)              | TransientError(rate_limited=True)        |
| 5xx, 408, timeout, refused/dropped link | TransientError                           |
| 401, 403                                | AuthError                                |
| any other 4xx                           | ConfigError (the request can never work) |
| 2xx with a body that is not JSON        | BadPayload                               |

Idempotency lives in the sync (monitor/helpdesk_sync.py): a ticket carries our ticket key as its
external id, so a create that may have landed is first looked up (`find`); a comment carries a
marker line with its outbox key, so one that may have landed is looked for among the ticket's
comments (`find_comment`).
"""
from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from connectors.base import AuthError, BadPayload, ConfigError, TransientError

# our lifecycle's words for a helpdesk's statuses: "solved" solves our ticket
Status = Literal["open", "pending", "solved", "closed"]


class HelpdeskConfig(BaseModel):
    """`tickets.helpdesk:` — where our tickets are mirrored (optional)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["zendesk", "freshdesk"]
    # https://<subdomain>.zendesk.com or https://<domain>.freshdesk.com; or just `subdomain`
    url: str | None = None
    subdomain: str | None = None
    email: str | None = None  # Zendesk: the agent the API token belongs to
    token: SecretStr  # Zendesk API token, or Freshdesk API key
    # Freshdesk has no external id on tickets: a custom text field (created in Admin → Ticket fields)
    # holds our ticket key, and tickets are found by it with the search API
    external_id_field: str = "cf_outreach_key"
    status_every_s: float = Field(300.0, gt=0)  # how often the helpdesk's statuses are read back
    tags: list[str] = Field(default_factory=lambda: ["outreach-monitor"])
    timeout_s: float = Field(15.0, gt=0)

    @model_validator(mode="after")
    def _where_and_who(self) -> HelpdeskConfig:
        if not self.url and not self.subdomain:
            raise ValueError("needs `url` (e.g. https://acme.zendesk.com) or `subdomain` (acme)")
        if self.kind == "zendesk" and not self.email:
            raise ValueError("zendesk needs `email`: the agent whose API token this is (basic auth email/token)")
        return self

    @property
    def base_url(self) -> str:
        if self.url:
            return self.url.rstrip("/")
        host = "zendesk.com" if self.kind == "zendesk" else "freshdesk.com"
        return f"https://{self.subdomain}.{host}"


@dataclass(frozen=True)
class NewTicket:
    external_id: str  # our ticket key: the helpdesk ticket is found again by it
    subject: str
    body: str  # the first message and what triage said, as a private comment / description
    urgency: str | None = None
    requester_name: str = ""
    requester_ref: str = ""  # "<source>:<author id>": who the customer is on the platform
    tags: tuple[str, ...] = field(default_factory=tuple)


class Helpdesk(Protocol):
    kind: str

    async def check(self) -> str:
        """Who the credentials belong to; AuthError / ConfigError when they do not work."""
        ...

    async def find(self, external_id: str) -> str | None:
        """The id of the ticket created with this external id, if there is one."""
        ...

    async def create(self, t: NewTicket) -> str:
        ...

    async def comment(self, ticket_id: str, body: str, *, reopen: bool = False) -> str:
        """Add a private comment (Zendesk) or note (Freshdesk); returns its id. `reopen`: the customer
        wrote again after the ticket was solved, so it is set open again too."""
        ...

    async def find_comment(self, ticket_id: str, marker: str) -> str | None:
        """The id of a comment on the ticket whose body contains `marker`, if any."""
        ...

    async def status(self, ticket_id: str) -> Status | None:
        """The ticket's status in our words; None when the helpdesk no longer has the ticket."""
        ...

    async def close(self) -> None:
        ...


class HttpClient:
    """One aiohttp session with the service's auth, and `request()`: the one place errors are translated."""

    def __init__(self, service: str, base_url: str, login: str, password: str, *, timeout: float,
                 session: aiohttp.ClientSession | None = None) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self._auth = "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session
        self._own_session = session is None

    async def request(self, method: str, path: str, *, json_body: Any = None, params: dict[str, str] | None = None,
                      not_found_ok: bool = False) -> Any:
        """The answer's JSON. A 404 is None when `not_found_ok` (a ticket deleted in the helpdesk)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(trust_env=False)
            # aiohttp silently re-sends a PUT whose connection dropped (it counts PUT as idempotent);
            # Zendesk's comment PUT is not: that would be a second comment. The outbox retries instead,
            # after looking for the first. (No public switch for this in aiohttp 3.x.)
            self._session._retry_connection = False  # type: ignore[attr-defined]
        what = f"{self.service} {method} {path}"
        try:
            async with self._session.request(method, self.base_url + path, json=json_body, params=params,
                                             timeout=self._timeout,
                                             headers={"Accept": "application/json", "Authorization": self._auth}) as resp:
                text = await resp.text()
                status, retry_after = resp.status, _seconds(resp.headers.get("Retry-After"))
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            # the request may have landed: the sync looks before it tries again
            raise TransientError(f"{what} failed: {type(e).__name__}: {str(e) or 'timed out'}") from None
        if status == 404 and not_found_ok:
            return None
        if 200 <= status < 300:
            if not text.strip():
                return {}
            try:
                return json.loads(text)
            except ValueError:
                raise BadPayload(f"{what} answered HTTP {status} with a body that is not JSON") from None
        detail = _detail(text)
        if status == 429:
            raise TransientError(f"{what} was rate-limited (HTTP 429)", retry_after=retry_after if retry_after
                                 is not None else 60.0, rate_limited=True)
        if status >= 500 or status == 408:
            raise TransientError(f"{what} answered HTTP {status}{detail}", retry_after=retry_after)
        if status in (401, 403):
            raise AuthError(f"{self.service} refused the credentials (HTTP {status}){detail}")
        raise ConfigError(f"{what} was refused (HTTP {status}){detail}")

    async def close(self) -> None:
        if self._session is not None and self._own_session:
            await self._session.close()
        self._session = None


def _seconds(v: str | None) -> float | None:
    try:
        return max(float(v), 0.0) if v else None
    except ValueError:
        return None


def _detail(text: str) -> str:
    """A short reason from the error body (both services answer JSON errors), never the whole body."""
    try:
        data = json.loads(text)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    parts = [str(data[k]) for k in ("error", "description", "message", "code") if isinstance(data.get(k), str)]
    for e in data.get("errors") or []:  # Freshdesk: [{"field", "message", "code"}]
        if isinstance(e, dict):
            parts.append(f"{e.get('field', '')}: {e.get('message', '')}")
    details = data.get("details")  # Zendesk: {"field": [{"description", "error"}]}
    for found in details.values() if isinstance(details, dict) else []:
        parts += [str(d.get("description")) for d in found if isinstance(d, dict) and d.get("description")]
    return (": " + "; ".join(parts))[:300] if parts else ""


def build_helpdesk(cfg: HelpdeskConfig, *, session: aiohttp.ClientSession | None = None) -> Helpdesk:
    """The connector for `tickets.helpdesk.kind` (an explicit registry: two services)."""
    if cfg.kind == "zendesk":
        from connectors.zendesk import Zendesk

        return Zendesk(cfg, session=session)
    from connectors.freshdesk import Freshdesk

    return Freshdesk(cfg, session=session)
