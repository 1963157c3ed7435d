"""The `classify` contract (DESIGN.md): JSONL mentions in, one JSONL verdict per good line out.

Each input line is `{"id", "text", ...}` with optional `author` ({followers, verified, is_bot,
is_own}), `metrics`, `source`, `lang`, `prior_contacts`, `open_incidents`; each output line is
`{"id", "urgency", "category", "complaint", "actionable", "sentiment", "score", "confidence",
"reasons"}`. Blank lines are skipped; a bad line gets no output and is reported as
`line N: <problem>`.

Input is read in chunks and the answers to a chunk are written and flushed together: a caller
feeding one line at a time gets each answer at once, and a file of 40,000 lines costs a few dozen
writes instead of 40,000.
"""
from __future__ import annotations

import json
from functools import lru_cache
from collections.abc import Callable
from json.encoder import encode_basestring
from typing import Any, BinaryIO

from monitor.models import Verdict
from monitor.triage.engine import Triage

CHUNK = 1 << 16
_loads = json.loads
_scan = json.JSONDecoder().scan_once  # what json.loads parses with (default settings)
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
_quoted = encode_basestring  # what _dumps escapes a string with (ensure_ascii=False): the C one


def parse_item(line: str | bytes) -> dict[str, Any]:
    try:
        # json.loads guesses the encoding of bytes from their first four; when those are ASCII
        # and not NUL its guess is UTF-8, decoded the same way here without the guessing
        if type(line) is bytes and line[:4].isascii() and b"\0" not in line[:4]:
            line = line.decode("utf-8", "surrogatepass")
        if line[:1] == "{":
            # json.loads is its scanner plus two whitespace regexes and an "extra data" check: a line
            # that is one object and nothing else needs only the scanner; anything else (spaces
            # around it, more after it, an error) goes to json.loads for its exact answer or message
            try:
                item, end = _scan(line, 0)
            except (ValueError, StopIteration):
                end = -1
            if end != len(line):
                item = _loads(line)
        else:
            item = _loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e.msg} at column {e.colno})") from None
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None
    if not isinstance(item, dict):
        raise ValueError(f"expected a JSON object, got {type(item).__name__}")
    if not isinstance(item.get("text"), str):
        raise ValueError("`text` is missing or not a string")
    if "id" not in item:
        raise ValueError("`id` is missing")
    return item


def text_post(item: dict[str, Any]) -> dict[str, Any]:
    """One parsed input object -> the keyword arguments of `Triage.classify_text`."""
    author = item.get("author")
    metrics = item.get("metrics")
    prior = item.get("prior_contacts", 0)
    incidents = item.get("open_incidents")
    return {
        "text": item["text"],
        "author": author if isinstance(author, dict) else None,
        "metrics": metrics if isinstance(metrics, dict) else None,
        "source": str(item.get("source", "")),
        "lang": str(item.get("lang") or ""),
        "prior_contacts": prior if isinstance(prior, int) and not isinstance(prior, bool) else 0,
        "open_incidents": [str(x) for x in incidents if isinstance(x, str)] if isinstance(incidents, list) else (),
    }


def classify_item(triage: Triage, item: dict[str, Any]) -> str:
    """One parsed input object -> its output line (without the newline)."""
    return _line(item.get("id"), triage.classify_text(**text_post(item)))


def _line(id_: Any, v: Verdict) -> str:
    """`_dumps({"id": id_, **v.as_dict()})`, character for character, without walking a dict: the
    fields are known, so only the strings need escaping (by the json module's own C escaper)."""
    t = type(id_)
    i = _quoted(id_) if t is str else repr(id_) if t is int else _dumps(id_)
    reasons = ", ".join(map(_quoted, v.reasons))
    return (f'{{"id": {i}, "urgency": {_quoted(v.urgency)}, "category": {_quoted(v.category)}, '
            f'"complaint": {"true" if v.complaint else "false"}, "actionable": {"true" if v.actionable else "false"}, '
            f'"sentiment": {_rounded(v.sentiment)}, "score": {_number(v.score)}, '
            f'"confidence": {_rounded(v.confidence)}, "reasons": [{reasons}]}}')


def _rounded(x: float) -> str:
    # 0.0 and -0.0 are one key to a cache, two texts to json
    return _rounded_nonzero(x) if x else _number(round(x, 3))


@lru_cache(maxsize=1 << 15)  # few values recur (VADER's have four decimals): each formatted once
def _rounded_nonzero(x: float) -> str:
    return _number(round(x, 3))


def _number(x: float) -> str:
    # json writes finite floats and ints as repr does; anything else goes through json itself
    return repr(x) if (type(x) is float and x - x == 0) or type(x) is int else _dumps(x)


def run(triage: Triage, read: Callable[[int], bytes], write: Callable[[bytes], Any],
        flush: Callable[[], Any] = lambda: None, report: Callable[[str], Any] = print) -> int:
    """Classify everything `read` gives until it returns b""; returns the number of bad lines."""
    bad = 0
    n = 0
    rest = b""
    while True:
        chunk = read(CHUNK)
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop() if chunk else b""
        # the chunk's good lines are classified together (Triage.classify_texts: the same verdicts,
        # faster); what is wrong with a line is reported in line order, as it is found
        parsed: list[tuple[int, dict[str, Any] | str]] = []  # (line number, the object or what is wrong)
        for raw in lines:
            n += 1
            if not raw.strip():
                continue
            try:
                parsed.append((n, parse_item(raw)))
            except ValueError as e:
                parsed.append((n, str(e)))
        items = [x for _, x in parsed if type(x) is dict]
        try:
            verdicts = iter(triage.classify_texts(map(text_post, items)))
        except ValueError:
            verdicts = None  # a post the batch could not take: one by one, to say which
        out = []
        for k, x in parsed:
            try:
                if type(x) is str:
                    raise ValueError(x)
                out.append(_line(x.get("id"), next(verdicts)) if verdicts is not None else classify_item(triage, x))
            except ValueError as e:
                bad += 1
                report(f"line {k}: {e}")
        if out:
            write(("\n".join(out) + "\n").encode("utf-8"))
            flush()
        if not chunk:
            return bad


def run_fd(triage: Triage, infile: BinaryIO, outfile: BinaryIO, report: Callable[[str], Any]) -> int:
    """`run` over files: `read1` returns what has arrived (one read at most), so answers to a line
    are never held back waiting for more input."""
    read = getattr(infile, "read1", infile.read)
    return run(triage, read, outfile.write, outfile.flush, report)
