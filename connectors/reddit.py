"""Reddit through praw (blocking, not thread-safe: one single-thread executor per instance)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class RedditConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["reddit"]
    name: str = "reddit"
    client_id: str
    client_secret: SecretStr
    username: str | None = None
    password: SecretStr | None = None
    user_agent: str = "outreach-monitor/0.1"
    api_base: str = "https://oauth.reddit.com"
    www_base: str = "https://www.reddit.com"
    queries: list[str] = Field(default_factory=list)
    subreddits: list[str] = Field(default_factory=list)
    interval: float = Field(60.0, gt=0)
