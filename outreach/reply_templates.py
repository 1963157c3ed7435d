"""The brand's words for public replies: Jinja2 templates, rendered in a sandbox, with safe variables only.

Files: `<dir>/<category>.<lang>.j2`, falling back to `default.<lang>.j2`, then to English. A reply
that moves the conversation private uses `private.<lang>.j2`; the direct message itself `dm.<lang>.j2`.
The shipped set lives in config/templates/replies/; an operator points `tickets.replies.templates`
at a copy.

Only these variables exist: handle, ticket, first_name, status_link, private_link, dm, brand. The
customer's own words are never one of them (a reply must never repeat what a stranger wrote), and
the two that come from the platform are cleaned here: a handle is a platform handle or nothing,
and a first name is letters only. Templates run in Jinja2's SandboxedEnvironment with
StrictUndefined, so a template cannot reach Python objects and a misspelt variable is an error at
load time (every template is test-rendered when loaded), not a broken reply at 3 a.m.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from monitor.paths import shipped_config

SAFE_VARIABLES = ("handle", "ticket", "first_name", "status_link", "private_link", "dm", "brand")
_HANDLE = re.compile(r"^[A-Za-z0-9_]{1,20}$")
_NAME = re.compile(r"^[^\W\d_]{2,20}$")  # letters only: "Ana", "José"; not "xX_l33t", not an emoji
MAX_LEN = {"x": 280}  # X refuses longer posts; Reddit's limit is far above any template


class TemplateProblem(Exception):
    """A template directory that cannot be used; the message names the file."""


def safe_handle(username: str) -> str:
    u = username.lstrip("@")
    return u if _HANDLE.match(u) else ""


def safe_first_name(display_name: str) -> str:
    first = (display_name or "").strip().split(" ")[0] if display_name else ""
    return first if _NAME.match(first) else ""


@dataclass(frozen=True)
class Context:
    handle: str
    ticket: str  # "#12"
    first_name: str = ""
    status_link: str = ""
    private_link: str = ""
    dm: bool = False
    brand: str = ""

    @classmethod
    def of(cls, *, username: str, display_name: str, ticket_id: int, status_link: str = "", private_link: str = "",
           dm: bool = False, brand: str = "") -> Context:
        return cls(safe_handle(username), f"#{ticket_id}", safe_first_name(display_name), status_link,
                   private_link, dm, brand)


def default_dir() -> Path:
    return shipped_config("templates/replies/default.en.j2").parent


class Templates:
    def __init__(self, directory: Path | None = None) -> None:
        self.dir = directory or default_dir()
        env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
        self._t = {}
        try:
            files = sorted(self.dir.glob("*.j2"))
        except OSError as e:
            raise TemplateProblem(f"{self.dir}: {e}") from None
        if not any(f.name == "default.en.j2" for f in files):
            raise TemplateProblem(f"{self.dir}: default.en.j2 is missing (every reply falls back to it)")
        probe = Context("someone", "#1", "Ana", "https://status.example", "https://help.example", True, "Brand")
        for f in files:
            try:
                t = env.from_string(f.read_text(encoding="utf-8"))
                t.render(**_vars(probe))  # a misspelt variable fails here, at start-up
            except (TemplateError, OSError) as e:
                raise TemplateProblem(f"{f}: {e}") from None
            self._t[f.name[:-3]] = t

    def has(self, name: str) -> bool:
        return name in self._t

    def render(self, kind: str, lang: str, ctx: Context, *, source: str = "") -> str:
        """`kind` is a category, or "private", or "dm"."""
        lang = (lang or "en").split("-")[0].lower()
        for name in (f"{kind}.{lang}", f"{kind}.en", f"default.{lang}", "default.en") if kind not in ("private", "dm") \
                else (f"{kind}.{lang}", f"{kind}.en"):
            if name in self._t:
                text = " ".join(self._t[name].render(**_vars(ctx)).split())
                limit = MAX_LEN.get(source)
                if limit and len(text) > limit:
                    text = text[: limit - 1].rstrip() + "…"
                return text
        raise TemplateProblem(f"{self.dir}: no template for {kind!r} (add {kind}.en.j2)")


def _vars(ctx: Context) -> dict[str, object]:
    return {name: getattr(ctx, name) for name in SAFE_VARIABLES}
