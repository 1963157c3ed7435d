"""A digest (plain data from figures.py) written out: JSON, Markdown, HTML (page or e-mail), CSV.

The HTML is one template for the page, the stand-alone file and the e-mail; only where the chart
images come from differs (a URL, a data: URI, or a cid: of an inline MIME part). User text is
escaped by Jinja's autoescape: a post cannot inject markup into marketing's page.
"""
from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape

from monitor.digest import humanize as H
from monitor.digest.charts import CAPTIONS
from monitor.digest.figures import Row

_env = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")),
                   autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)


def to_json(d: Mapping[str, Any]) -> str:
    return json.dumps(d, indent=2, ensure_ascii=False) + "\n"


def to_html(d: Mapping[str, Any], charts: Mapping[str, str], *, links: Mapping[str, str] | None = None) -> str:
    """`charts`: chart name -> image src (URL, data: URI or cid:)."""
    return _env.get_template("digest.html.j2").render(d=d, charts=charts, captions=CAPTIONS, links=links or {})


def data_uris(pngs: Mapping[str, bytes]) -> dict[str, str]:
    return {n: "data:image/png;base64," + base64.b64encode(b).decode() for n, b in pngs.items()}


def index_html(brand: str, items: Iterable[Mapping[str, Any]]) -> str:
    return _env.get_template("index.html.j2").render(brand=brand, items=list(items))


def _na(s: Mapping[str, Any]) -> str:
    return f"_{str(s['status']).capitalize()}{': ' + s['why'] if s.get('why') else ''}._"


def _post(p: Mapping[str, Any]) -> str:
    text = " ".join(str(p["text"]).split())
    link = f" — [open]({p['url']})" if p.get("url") else ""
    return f"- “{text}” — @{p['author']} on {p['source']}, {p['followers_text']} followers, " \
           f"{p['engagement_text']}{link}"


def to_markdown(d: Mapping[str, Any]) -> str:
    p = d["period"]
    out = [f"# {d['title']}", "",
           f"{p['from_text']} – {p['to_text']} ({p['tz']}), compared with {p['versus']}.", ""]
    v = d["volume"]
    out += ["## Volume", ""]
    if v["status"] == "ok":
        out += [f"**{v['text']}** · {v['complaints_text']} · reach {v['reach_text']}", "",
                "| source | mentions | change |", "|---|---:|---|"]
        out += [f"| {r['name']} | {r['count']:,} | {r['change_text']} |" for r in v["by_source"]]
        out += ["", "| category | mentions | change |", "|---|---:|---|"]
        out += [f"| {r['name']} | {r['count']:,} | {r['change_text']} |" for r in v["by_category"]]
    else:
        out.append(_na(v))
    s = d["sentiment"]
    out += ["", "## Sentiment", "", s["text"] if s["status"] == "ok" else _na(s)]
    t = d["top_posts"]
    out += ["", "## Top posts", ""]
    if t["status"] == "ok":
        out += ["By reach:"] + [_post(x) for x in t["by_reach"]]
        out += ["", "By engagement:"] + ([_post(x) for x in t["by_engagement"]] or ["- none"])
    else:
        out.append(_na(t))
    th = d["themes"]
    out += ["", "## Themes", ""]
    if th["status"] == "ok":
        out += ["Rose:"] + ([f"- {x['text']}" for x in th["rose"]] or ["- none"])
        out += ["", "Fell:"] + ([f"- {x['text']}" for x in th["fell"]] or ["- none"])
    else:
        out.append(_na(th))
    sv = d["share_of_voice"]
    out += ["", "## Share of voice", ""]
    out += [f"- {x['text']}" for x in sv["voices"]] if sv["status"] == "ok" else [_na(sv)]
    a = d["authors"]
    out += ["", "## Notable authors", ""]
    out += [f"- @{x['author']} ({x['source']}, {x['followers_text']} followers): {x['mentions']} mentions"
            for x in a["by_reach"]] if a["status"] == "ok" else [_na(a)]
    i = d["incidents"]
    out += ["", "## Incidents and complaint spikes", ""]
    if i["status"] == "ok":
        out += [f"- {x['text']}" for x in i["items"]] or ["- no incident in the period"]
    else:
        out.append(_na(i))
    out += [f"- {x['text']}" for x in i["complaint_spikes"]] or ["- no day with a spike of complaints"]
    c = d["care"]
    out += ["", "## Care", ""]
    if c["status"] == "ok":
        for key in ("tickets_opened", "tickets_solved", "first_response", "sla"):
            f = c[key]
            out.append(f"- {f['text']}" if f["status"] == "ok" else f"- {key.replace('_', ' ')}: {_na(f)}")
    else:
        out.append(_na(c))
    cv = d["coverage"]
    out += ["", "## Coverage", "", cv["text"]] + [f"- {e['text']}" for e in cv["events"]]
    return "\n".join(out) + "\n"


CSV_HEADER = ("created", "source", "author", "followers", "category", "complaint", "sentiment", "engagement", "url",
              "text")


class CsvLines:
    """The CSV export a line at a time (a week can be large: the server streams it)."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._buf = io.StringIO()
        self._w = csv.writer(self._buf)

    def _take(self) -> str:
        s = self._buf.getvalue()
        self._buf.seek(0)
        self._buf.truncate()
        return s

    def header(self) -> str:
        self._w.writerow(CSV_HEADER)
        return self._take()

    def row(self, r: Row) -> str:
        self._w.writerow((datetime.fromtimestamp(r.created_at, self.tz).isoformat(timespec="seconds"), r.source,
                          r.author_username, r.followers, r.category or "",
                          "" if r.complaint is None else int(r.complaint),
                          "" if r.sentiment is None else round(r.sentiment, 3), r.engagement, r.url, r.text))
        return self._take()


def headline(d: Mapping[str, Any]) -> str:
    """One line for a notification: volume and tone."""
    parts = [d["volume"]["text"] if d["volume"]["status"] == "ok" else "no mentions"]
    if d["sentiment"]["status"] == "ok":
        parts.append(f"tone {d['sentiment']['average']:+.2f} ({d['sentiment']['trend']})")
    return " · ".join(parts)


__all__ = ["to_json", "to_html", "to_markdown", "CsvLines", "data_uris", "index_html", "headline", "H"]
