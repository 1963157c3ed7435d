"""The operator's triage rules: load `rules.yaml`, check every entry, hand them to the matcher.

Every problem is reported with the YAML path of the entry (`categories.billing.patterns[2]`), so an
operator can fix their file without reading code.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from monitor.models import URGENCIES
from monitor.paths import shipped_config
from monitor.triage.matcher import Found, Matcher, phrase_to_regex  # noqa: F401 (re-exported)

DEFAULT_RULES_PATH = shipped_config("rules.yaml")

URGENCY_RANK = {u: i for i, u in enumerate(reversed(URGENCIES))}  # ignore=0 … critical=4
_BACKREF = re.compile(r"\\[1-9]|\(\?P=")
_CATEGORY_ID = re.compile(r"^[a-z][a-z0-9_]*$")


class RulesError(ValueError):
    """A rules file that cannot be used; the message names the file and the path of the bad entry."""

    def __init__(self, source: str, path: str, problem: str) -> None:
        self.source = source
        self.path = path
        self.problem = problem
        super().__init__(f"{source}: {path}: {problem}" if path else f"{source}: {problem}")


@dataclass(frozen=True, slots=True)
class Term:
    category: str  # "" for a top-level negation
    text: str  # what the operator wrote, quoted back in reasons
    weight: float
    negation: bool
    where: str  # YAML path, for error messages and debugging
    regex: str = ""
    critical: bool = False  # danger: a match makes the mention critical whatever else it says


@dataclass(frozen=True, slots=True)
class Category:
    id: str
    description: str
    base: int
    complaint: bool
    actionable: bool
    min_urgency: str | None
    max_urgency: str | None
    intent: bool = False  # says how something is said (question, thanks), not what about
    harm: str | None = None  # what a complaint of this kind puts at stake: safety, security, money, legal


@dataclass(frozen=True, slots=True)
class Signals:
    sentiment_points: float = 20
    complaint_base: float = 35
    reproach_points: float = 8
    reproach_max: float = 5
    harm_points: float = 20
    learned_severity_points: float = 6  # per level of reproach the shipped model reads (0-3)
    reach_points_per_decade: float = 6
    reach_max: float = 20
    reach_min_followers: int = 2000
    verified_points: float = 5
    engagement_points_per_decade: float = 5
    engagement_max: float = 15
    repeat_points: float = 8
    repeat_max: float = 24
    incident_points: float = 15


@dataclass(frozen=True, slots=True)
class SentimentBands:
    negative: float = -0.15
    very_negative: float = -0.6
    positive: float = 0.5


@dataclass
class Rules:
    source: str
    categories: dict[str, Category]  # in file order: earlier wins a tie
    terms: list[Term]
    matcher: Matcher
    thresholds: dict[str, int]  # urgency -> minimum score, critical first
    sentiment: SentimentBands = field(default_factory=SentimentBands)
    signals: Signals = field(default_factory=Signals)
    order: dict[str, int] = field(default_factory=dict)
    min_evidence: float = 1.0
    fallback_category: str = "other"  # for a negative mention that matched nothing
    positive_fallback_category: str = "other"  # for a clearly positive one

    packs: dict[str, Matcher] = field(default_factory=dict)  # language -> these rules plus its pack
    any_language: Matcher | None = None  # these rules plus every pack: for a language with no pack
    max_chars: int = 4000  # longer posts are triaged on this prefix (bounded cost per post)

    def matches(self, text: str, lang: str = "en") -> Found:
        """Evidence per category, quoted words, negations and danger, with the pack for `lang`."""
        if lang == "en" or not lang:
            return self.matcher.matches(text)
        m = self.packs.get(lang) or self.any_language or self.matcher
        return m.matches(text)

    @property
    def languages(self) -> tuple[str, ...]:
        return ("en", *sorted(self.packs))


def _entry(raw: Any, where: str, kind: str, default_weight: float, source: str) -> tuple[str, str, float, bool]:
    """One list entry -> (the text to quote, its regex, weight, whether it is danger)."""
    weight = default_weight
    critical = False
    if isinstance(raw, dict):
        keys = set(raw)
        allowed = {"phrase", "pattern", "weight", "critical"}
        if keys - allowed:
            raise RulesError(source, where, f"unknown key(s) {sorted(keys - allowed)}; expected phrase or pattern, weight and critical")
        if "critical" in raw:
            if not isinstance(raw["critical"], bool):
                raise RulesError(source, f"{where}.critical", "expected true or false")
            if kind == "negations":
                raise RulesError(source, f"{where}.critical", "a negation cannot be critical")
            critical = raw["critical"]
        if ("phrase" in raw) == ("pattern" in raw):
            raise RulesError(source, where, "give exactly one of `phrase` or `pattern`")
        if "weight" in raw:
            w = raw["weight"]
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 < w <= 100:
                raise RulesError(source, where, f"weight must be a number above 0 (at most 100), got {w!r}")
            weight = float(w)
        as_pattern = "pattern" in raw
        text = raw["pattern"] if as_pattern else raw["phrase"]
    elif isinstance(raw, str):
        as_pattern = kind in ("patterns",) or kind == "negations" and _looks_like_regex(raw)
        text = raw
    else:
        raise RulesError(source, where, f"expected a string or a mapping, got {type(raw).__name__}")
    if not isinstance(text, str) or not text.strip():
        raise RulesError(source, where, "empty phrase or pattern")
    if as_pattern:
        try:
            compiled = re.compile(text, re.IGNORECASE)
        except re.error as e:
            raise RulesError(source, where, f"invalid regex {text!r}: {e}") from None
        if compiled.groupindex:
            raise RulesError(source, where, "named groups are not allowed; use (?:...)")
        if _BACKREF.search(text):
            raise RulesError(source, where, "back-references are not allowed")
        if compiled.match(""):
            raise RulesError(source, where, f"pattern {text!r} matches empty text, so it would match everything")
        return text, text, weight, critical
    if re.search(r"[\\()\[\]{}|+?^$]", text.replace("'", "")):
        raise RulesError(source, where, f"{text!r} looks like a regex; write it under `patterns:` or as `{{pattern: ...}}`")
    return text, phrase_to_regex(text), weight, critical


def _looks_like_regex(s: str) -> bool:
    return bool(re.search(r"[\\()\[\]{}|+?^$]", s.replace("'", "")))


def _urgency(value: Any, where: str, source: str) -> str | None:
    if value is None:
        return None
    if value not in URGENCIES:
        raise RulesError(source, where, f"unknown urgency {value!r}; expected one of {list(URGENCIES)}")
    return str(value)


def _harm(value: Any, where: str, source: str) -> str | None:
    if value is not None and value not in HARMS:
        raise RulesError(source, where, f"expected one of {list(HARMS)}, got {value!r}")
    return value


def _kind(value: Any, where: str, source: str) -> bool:
    if value not in ("topic", "intent"):
        raise RulesError(source, where, f"expected topic or intent, got {value!r}")
    return value == "intent"


def _number(node: dict[str, Any], key: str, default: float, where: str, source: str) -> float:
    v = node.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise RulesError(source, f"{where}.{key}" if where else key, f"expected a number, got {v!r}")
    return float(v)


def _mapping(node: Any, where: str, source: str) -> dict[str, Any]:
    if node is None:
        return {}
    if not isinstance(node, dict):
        raise RulesError(source, where, f"expected a mapping, got {type(node).__name__}")
    return node


def _list(node: Any, where: str, source: str) -> list[Any]:
    if node is None:
        return []
    if not isinstance(node, list):
        raise RulesError(source, where, f"expected a list, got {type(node).__name__}")
    return node


REPROACH_LEVELS = ("disapproval", "accusation", "blame")  # 1, 2, 3; 0 is "no explicit reproach"


def reproach_key(level: int) -> str:
    """The pseudo-category a reproach level's words are counted under."""
    return f"reproach:{level}"


_TOP_KEYS = {"version", "language_packs", "max_chars", "severity", "min_evidence", "fallback_category", "positive_fallback_category", "urgency_thresholds", "sentiment", "signals", "negations", "categories"}
_CAT_KEYS = {
    "description", "kind", "base", "min_urgency", "max_urgency", "complaint", "actionable", "weight",
    "phrases", "patterns", "negations", "harm",
}
HARMS = ("safety", "security", "money", "legal")


def parse_rules(data: Any, *, source: str = "<rules>", folder: Path | None = None) -> Rules:
    """`folder`: where the `language_packs` files are (the rules file's folder)."""
    top = _mapping(data, "", source)
    unknown = set(top) - _TOP_KEYS
    if unknown:
        raise RulesError(source, sorted(unknown)[0], f"unknown key; expected some of {sorted(_TOP_KEYS)}")
    if top.get("version", 1) != 1:
        raise RulesError(source, "version", f"unsupported version {top.get('version')!r}; this program reads version 1")

    th_raw = _mapping(top.get("urgency_thresholds"), "urgency_thresholds", source)
    thresholds = {"critical": 80, "high": 60, "normal": 35, "low": 0}
    for k, v in th_raw.items():
        if k not in thresholds:
            raise RulesError(source, f"urgency_thresholds.{k}", "expected critical, high, normal or low")
        thresholds[k] = int(_number(th_raw, k, 0, "urgency_thresholds", source))
    order = ["critical", "high", "normal", "low"]
    for a, b in zip(order, order[1:]):
        if thresholds[a] < thresholds[b]:
            raise RulesError(source, f"urgency_thresholds.{a}", f"must be at least {b} ({thresholds[b]})")

    s_raw = _mapping(top.get("sentiment"), "sentiment", source)
    for k in s_raw:
        if k not in SentimentBands.__dataclass_fields__:
            raise RulesError(source, f"sentiment.{k}", "expected negative, very_negative or positive")
    bands = SentimentBands(**{k: _number(s_raw, k, 0, "sentiment", source) for k in s_raw})

    g_raw = _mapping(top.get("signals"), "signals", source)
    for k in g_raw:
        if k not in Signals.__dataclass_fields__:
            raise RulesError(source, f"signals.{k}", f"unknown signal setting; expected some of {sorted(Signals.__dataclass_fields__)}")
    signals = Signals(**{k: _number(g_raw, k, 0, "signals", source) for k in g_raw})  # type: ignore[arg-type]

    terms: list[Term] = []
    for i, raw in enumerate(_list(top.get("negations"), "negations", source)):
        where = f"negations[{i}]"
        text, rx, w, _ = _entry(raw, where, "negations", 1.0, source)
        terms.append(Term("", text, w, True, where, rx))

    sev = _mapping(top.get("severity"), "severity", source)
    for name in sev:
        if name not in REPROACH_LEVELS:
            raise RulesError(source, f"severity.{name}", f"expected some of {list(REPROACH_LEVELS)}")
    for level, name in enumerate(REPROACH_LEVELS, start=1):
        node = _mapping(sev.get(name), f"severity.{name}", source)
        bad = set(node) - {"phrases", "patterns"}
        if bad:
            raise RulesError(source, f"severity.{name}.{sorted(bad)[0]}", "expected phrases and patterns")
        for kind in ("phrases", "patterns"):
            for i, raw in enumerate(_list(node.get(kind), f"severity.{name}.{kind}", source)):
                where = f"severity.{name}.{kind}[{i}]"
                text, rx, w, _ = _entry(raw, where, kind, 1.0, source)
                terms.append(Term(reproach_key(level), text, w, False, where, rx))

    cats_raw = _mapping(top.get("categories"), "categories", source)
    if not cats_raw:
        raise RulesError(source, "categories", "at least one category is needed")
    categories: dict[str, Category] = {}
    for cid, node in cats_raw.items():
        cw = f"categories.{cid}"
        if not isinstance(cid, str) or not _CATEGORY_ID.match(cid):
            raise RulesError(source, cw, "a category id is lower-case letters, digits and _")
        if cid in ("own", "other"):
            raise RulesError(source, cw, f"{cid!r} is reserved")
        node = _mapping(node, cw, source)
        bad = set(node) - _CAT_KEYS
        if bad:
            raise RulesError(source, f"{cw}.{sorted(bad)[0]}", f"unknown key; expected some of {sorted(_CAT_KEYS)}")
        base = _number(node, "base", 30, cw, source)
        if not 0 <= base <= 100:
            raise RulesError(source, f"{cw}.base", "must be between 0 and 100")
        for flag in ("complaint", "actionable"):
            if not isinstance(node.get(flag, False), bool):
                raise RulesError(source, f"{cw}.{flag}", "expected true or false")
        cat = Category(
            id=cid,
            description=str(node.get("description", "")),
            base=int(base),
            complaint=bool(node.get("complaint", False)),
            actionable=bool(node.get("actionable", False)),
            min_urgency=_urgency(node.get("min_urgency"), f"{cw}.min_urgency", source),
            max_urgency=_urgency(node.get("max_urgency"), f"{cw}.max_urgency", source),
            intent=_kind(node.get("kind", "topic"), f"{cw}.kind", source),
            harm=_harm(node.get("harm"), f"{cw}.harm", source),
        )
        if cat.min_urgency and cat.max_urgency and URGENCY_RANK[cat.min_urgency] > URGENCY_RANK[cat.max_urgency]:
            raise RulesError(source, f"{cw}.min_urgency", "is above max_urgency")
        default_w = _number(node, "weight", 1.0, cw, source)
        n_match = 0
        for kind in ("phrases", "patterns", "negations"):
            for i, raw in enumerate(_list(node.get(kind), f"{cw}.{kind}", source)):
                where = f"{cw}.{kind}[{i}]"
                text, rx, w, crit = _entry(raw, where, kind, default_w, source)
                terms.append(Term(cid, text, w, kind == "negations", where, rx, crit))
                n_match += kind != "negations"
        if n_match == 0:
            raise RulesError(source, cw, "has no phrases or patterns")
        categories[cid] = cat

    matcher = Matcher(terms)
    max_chars = int(_number(top, "max_chars", 4000, "", source))
    if max_chars < 280:
        raise RulesError(source, "max_chars", "must be at least 280 (one post on X)")
    pack_terms: dict[str, list[Term]] = {}
    for lang, ref in _mapping(top.get("language_packs"), "language_packs", source).items():
        where = f"language_packs.{lang}"
        if not isinstance(lang, str) or not re.fullmatch(r"[a-z]{2,3}", lang) or lang == "en":
            raise RulesError(source, where, "a language is a two- or three-letter ISO 639 code (not en: this file is English)")
        if not isinstance(ref, str):
            raise RulesError(source, where, "expected the path of a pack file")
        path = (folder or Path(".")) / ref
        if not path.is_file() and Path(ref).name == ref and shipped_config(ref).is_file():
            path = shipped_config(ref)  # a copied rules file keeps the shipped packs
        pack_terms[lang] = parse_pack(_read_yaml(path), categories, source=str(path))
    packs = {lang: Matcher(terms + t) for lang, t in pack_terms.items()}
    # danger in a supported language is danger whatever the post is taken for: a short one
    # ("quero morrer", "das Handy qualmt") is too short to detect and is read as English; the
    # packs' negations of those categories come along ("ya no sale humo")
    danger = [t for ts in pack_terms.values() for t in ts if t.critical]
    guarded = {t.category for t in danger}
    guards = [t for ts in pack_terms.values() for t in ts if t.negation and t.category in guarded]
    if danger:
        matcher = Matcher(terms + danger + guards)
    everything = Matcher(terms + [t for ts in pack_terms.values() for t in ts]) if pack_terms else None
    fallback = top.get("fallback_category", "other")
    positive_fallback = top.get("positive_fallback_category", "other")
    for key, value in (("fallback_category", fallback), ("positive_fallback_category", positive_fallback)):
        if value != "other" and value not in categories:
            raise RulesError(source, key, f"{value!r} is not one of the categories")
    return Rules(
        source=source,
        categories=categories,
        terms=terms,
        matcher=matcher,
        thresholds=thresholds,
        sentiment=bands,
        signals=signals,
        order={c: i for i, c in enumerate(categories)},
        min_evidence=_number(top, "min_evidence", 1.0, "", source),
        fallback_category=fallback,
        positive_fallback_category=positive_fallback,
        packs=packs,
        any_language=everything,
        max_chars=max_chars,
    )


_PACK_KEYS = {"version", "language", "negations", "categories"}
_PACK_CAT_KEYS = {"phrases", "patterns", "negations"}


def parse_pack(data: Any, categories: dict[str, Category], *, source: str) -> list[Term]:
    """A language pack: more words for the main file's categories (their scores and bounds stay
    the main file's). A category the main file does not have is an error, not silently ignored."""
    top = _mapping(data, "", source)
    unknown = set(top) - _PACK_KEYS
    if unknown:
        raise RulesError(source, sorted(unknown)[0], f"unknown key; a language pack has some of {sorted(_PACK_KEYS)}")
    terms: list[Term] = []
    for i, raw in enumerate(_list(top.get("negations"), "negations", source)):
        where = f"negations[{i}]"
        text, rx, w, _ = _entry(raw, where, "negations", 1.0, source)
        terms.append(Term("", text, w, True, where, rx))
    for cid, node in _mapping(top.get("categories"), "categories", source).items():
        cw = f"categories.{cid}"
        if cid not in categories:
            raise RulesError(source, cw, f"no such category in the main rules file (one of {sorted(categories)})")
        node = _mapping(node, cw, source)
        bad = set(node) - _PACK_CAT_KEYS
        if bad:
            raise RulesError(source, f"{cw}.{sorted(bad)[0]}", "a pack only adds phrases, patterns and negations")
        for kind in ("phrases", "patterns", "negations"):
            for i, raw in enumerate(_list(node.get(kind), f"{cw}.{kind}", source)):
                where = f"{cw}.{kind}[{i}]"
                text, rx, w, crit = _entry(raw, where, kind, 1.0, source)
                terms.append(Term(cid, text, w, kind == "negations", where, rx, crit))
    return terms


def _read_yaml(p: Path) -> Any:
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise RulesError(str(p), "", f"cannot read the rules file: {e.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise RulesError(str(p), where, f"not valid YAML: {getattr(e, 'problem', e)}") from None


def load_rules(path: Path | str | None = None) -> Rules:
    p = Path(path) if path is not None else DEFAULT_RULES_PATH
    if not p.is_file() and path is None:
        raise RulesError(str(p), "", "cannot read the rules file (the shipped defaults live in config/rules.yaml of the source checkout)")
    return parse_rules(_read_yaml(p), source=str(p), folder=p.parent)
