"""Builds the configured sources. An explicit registry: the YAML `type:` names the connector class."""
from __future__ import annotations

from connectors.base import Source
from connectors.reddit import RedditConfig, RedditSource
from connectors.x import XConfig, XSource
from monitor.config import Config


def build_sources(cfg: Config) -> dict[str, Source]:
    out: dict[str, Source] = {}
    for i, sc in enumerate(cfg.sources):
        path = f"sources[{i}]"
        if isinstance(sc, XConfig):
            out[sc.name] = XSource(sc, own_handles=cfg.brand.own_handles, config_path=path)
        elif isinstance(sc, RedditConfig):
            out[sc.name] = RedditSource(sc, own_handles=cfg.brand.own_handles, config_path=path)
        else:  # pragma: no cover - the config union and this registry are edited together
            raise TypeError(f"{path}: no connector for {type(sc).__name__}")
    return out
