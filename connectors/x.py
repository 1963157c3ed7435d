"""X (Twitter) API v2 through tweepy's AsyncClient: brand-handle mentions and keyword searches."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class XConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["x"]
    name: str = "x"
    bearer_token: SecretStr
    api_base: str = "https://api.twitter.com"
    handles: list[str] = Field(default_factory=list)  # mentions of these accounts (without @)
    queries: list[str] = Field(default_factory=list)  # X search queries, operators allowed
    interval: float = Field(60.0, gt=0)  # seconds between polls
    max_results: int = Field(100, ge=10, le=100)
    max_pages: int = Field(5, ge=1)
    include_reposts: bool = False
    timeout: float = Field(15.0, gt=0)
