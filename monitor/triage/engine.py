"""Triage: text + author + context -> a Verdict a person can check in two seconds.

Pure and fast (no I/O after loading). How a verdict is reached:

1. Suppression first: our own accounts, bots and reposts are `ignore` and say why.
2. The rules (`rules.yaml`) give evidence per category; the category with the most evidence wins,
   but a topic (billing, outage…) with `min_evidence` beats an intent (question, praise, general
   complaint): a question about a refund is billing. Only warm thanks beat a topic (twice its
   evidence, positive tone). With no evidence the tone decides (negative -> the fallback
   category, clearly positive -> the positive fallback, else `other`), with low confidence.
3. When a learned model is loaded (`outreach-monitor triage train`), its category probabilities
   are blended with the rules' and it may change the category; the reasons say so.
4. score = the category's base + more evidence + tone + reach + engagement + repeat contact + an
   open incident, clamped to 0-100; urgency comes from the score's band, kept within the
   category's min/max urgency. Spam is `ignore`.
5. `complaint`: the category is a complaint category and the writer is not just asking (a
   question about a refund in a calm tone is not a complaint) nor using thin words in a warm tone,
   unless the complaint words are strong (evidence >= 2); a question is a complaint when asked in
   a negative tone or with complaint words; with no matching words a negative tone is a
   complaint. `actionable`: the category says so, or it is a complaint.
6. `confidence` grows with the evidence and with its margin over the runner-up, and drops when the
   tone disagrees with the category (thanks in a furious tone), nothing matched, or the post is
   not in English (the shipped words and VADER are English). Below 0.5 the
   reasons say a person should check, so an uncertain mention is looked at rather than dropped.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any

from monitor.models import URGENCIES, Mention, Verdict
from monitor.triage import language, signals
from monitor.triage.matcher import Found
from monitor.triage.rules import REPROACH_LEVELS, URGENCY_RANK, Category, Rules, reproach_key
from monitor.triage.sentiment import Sentiment

LOW_CONFIDENCE = 0.5
PROBLEM = "problem"  # rules.yaml's category of "something did not work or did not happen"
SUGGESTION = "suggestion"  # … and of a wish for a feature or a change, which is not a complaint
WISH = "a wish with no problem described"
REPROACH = {level: reproach_key(level) for level in (1, 2, 3)}
_R1, _R2, _R3 = REPROACH[1], REPROACH[2], REPROACH[3]
_LEVELS = dict(enumerate(("no explicit reproach", *REPROACH_LEVELS)))
_NONE: tuple[float, str | None] = (0.0, None)
_NOBODY: Mapping[str, Any] = MappingProxyType({})  # an author we know nothing about
_OTHER = Category("other", "Nothing the rules know about", 15, False, False, None, "low")


class Triage:
    def __init__(self, rules: Rules, *, model: Any = None, learned: Any = None, sentiment: Sentiment | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.rules = rules
        self.model = model  # the team's corrections (`triage train`): monitor.triage.model.LinearModel or None
        self.learned = learned  # the shipped complaint model (model.ComplaintModel) or None
        self._packs = frozenset(rules.packs)
        language.warm_up()  # load the detector at start, not on the first foreign post
        self._sentiment = sentiment or Sentiment()
        self._clock = clock

    # -- public interface -------------------------------------------------------------------

    def classify(self, mention: Mention, *, prior_contacts: int = 0, open_incidents: Sequence[str] = ()) -> Verdict:
        a = mention.author
        if mention.is_own:
            return _suppressed("own", "our own account")
        if mention.removed:
            return _suppressed("removed", "deleted or removed on the platform (not triaged)")
        if a.is_bot:
            return _suppressed("bot", "bot account (suppressed)")
        if mention.is_repost:
            return _suppressed("repost", "a repost (suppressed)")
        age = None
        if isinstance(mention.created_at, datetime):
            try:
                age = max(0.0, (self._clock() - mention.created_at.timestamp()) / 3600)
            except (OverflowError, OSError, ValueError):
                age = None
        return self._judge(mention.text, a.followers, a.verified, mention.metrics, age, prior_contacts, open_incidents,
                           mention.lang)

    def classify_text(self, text: str, *, author: dict | None = None, metrics: dict | None = None,
                      source: str = "", lang: str = "", prior_contacts: int = 0,
                      open_incidents: Sequence[str] = ()) -> Verdict:
        post = self._text_post(text, author, metrics, lang, prior_contacts, open_incidents)
        return post if type(post) is Verdict else self._judge(*post)

    def classify_texts(self, posts: Iterable[Mapping[str, Any]]) -> list[Verdict]:
        """`classify_text(**post)` for each post, in order: the same verdicts, faster for a batch.

        Each step of reading (language, tone, rules, the shipped model) runs over the whole batch
        before the next, so the step's tables stay in the processor's cache instead of evicting
        each other post after post (about a sixth of the time of a batch of a few hundred)."""
        todo = [self._text_post(**p) for p in posts]
        judged = [p for p in todo if type(p) is not Verdict]
        readings = iter(self._read([p[0] for p in judged], [p[7] for p in judged]))
        return [p if type(p) is Verdict else self._decide(next(readings), *p[1:7]) for p in todo]

    @staticmethod
    def _text_post(text: str, author: dict | None = None, metrics: dict | None = None, lang: str = "",
                   prior_contacts: int = 0, open_incidents: Sequence[str] = (), source: str = "") -> Verdict | tuple:
        """classify_text's arguments -> a suppressed verdict, or `_judge`'s arguments."""
        get = (author or _NOBODY).get
        if get("is_own") or get("own"):
            return _suppressed("own", "our own account")
        if get("is_bot") or get("bot"):
            return _suppressed("bot", "bot account (suppressed)")
        if text[:3] == "RT " and text[3:4] == "@":
            return _suppressed("repost", "a repost (suppressed)")
        pm = get("public_metrics")
        if pm is None or not isinstance(pm, Mapping):
            pm = _NOBODY
        followers = get("followers", get("followers_count", pm.get("followers_count", 0)))
        if type(followers) is not int or followers < 0:
            followers = _int(followers)
        verified = bool(get("verified", False))
        return text, followers, verified, metrics, None, prior_contacts, open_incidents, lang

    # -- the decision ------------------------------------------------------------------------

    def _judge(self, text: str, followers: int, verified: bool, metrics: Mapping[str, Any] | None,
               age_hours: float | None, prior_contacts: int, open_incidents: Sequence[str], lang: str = "") -> Verdict:
        return self._decide(self._read([text], [lang])[0], followers, verified, metrics, age_hours, prior_contacts,
                            open_incidents)

    def _read(self, texts: Sequence[str], langs: Sequence[str]) -> list[tuple]:
        """What the words say, for each text: (the text read, a reason when it was cut, language,
        tone, the rules' findings, the shipped model's probability and features or None), each step
        over every text before the next."""
        rules = self.rules
        limit = rules.max_chars
        packs = self._packs
        # bounded cost whatever the post: what matters is almost always said first
        cut = [t if len(t) <= limit else t[:limit] for t in texts]
        longs = [None if len(t) <= limit else f"long post ({len(t):,} characters): triaged on the first {limit:,}"
                 for t in texts]
        langs = [language.resolve(lang, t, packs)[0] for t, lang in zip(cut, langs)]
        compounds = list(map(self._sentiment.compound, cut))
        founds = list(map(rules.matches, cut, langs))
        learned = self.learned
        # the shipped model reads English posts: (probability, the words to quote when it counts)
        read = learned.read if learned is not None else None
        model = [read(t) if read is not None and lang == "en" else None for t, lang in zip(cut, langs)]
        return list(zip(cut, longs, langs, compounds, founds, model))

    def _decide(self, reading: tuple, followers: int, verified: bool, metrics: Mapping[str, Any] | None,
                age_hours: float | None, prior_contacts: int, open_incidents: Sequence[str]) -> Verdict:
        text, long, lang, compound, found, learned = reading
        rules = self.rules
        bands = rules.sentiment
        reasons: list[str] = [long] if long else []
        english = lang == "en"
        evidence = found.evidence
        cat, runner_up, fallback = self._pick(evidence, compound)
        if found.danger:
            # danger wins the category: the team must see it as what it is
            cat, fallback = rules.categories.get(found.danger[0][1], cat), False

        if cat.id in found.quoted:
            reasons.append(f"matched {_quote(found.quoted[cat.id])} ({cat.id})")
        elif fallback and cat.id != "other":
            reasons.append(f"no rule matched; tone says {cat.id}")

        predicted = self.model.predict(text) if self.model is not None else None
        if predicted:
            chosen = self._blend(predicted.get("category"), cat, evidence, reasons)
            fallback = fallback and chosen is cat
            cat = chosen

        top = evidence.get(cat.id, 0.0)
        complaint = self._rules_complaint(cat, evidence, compound, fallback)
        if learned is not None:  # the shipped model read this (English) post
            complaint = self._blend_complaint(learned[0], learned[1], complaint, self.held_back(found), reasons)
        actionable = (cat.actionable or complaint or bool(found.danger)) and cat.max_urgency != "ignore"

        cfg = rules.signals
        if complaint:
            # how serious a complaint is: reproach first, then harm (rules.yaml, "How serious");
            # the category says what it is about, not how serious, so its base does not count here
            score = cfg.complaint_base
            if cat.harm:
                score += cfg.harm_points
                reasons.append(f"harm: {cat.harm}")
            if learned is not None and learned[2] is not None:
                # how severe the wording reads to the shipped model (0-3, the reproach scale)
                sev = learned[2]
                score += cfg.learned_severity_points * sev
                if sev >= 0.5:
                    reasons.append(f"wording like {_LEVELS[min(3, int(sev + 0.5))]} ({sev:.1f} of 3)")
        else:
            score = float(cat.base)
            if top > 1:
                score += min(10.0, 4.0 * (top - 1))
        if complaint or cat.actionable:
            # reproach also ranks what was not read as a complaint: blame words in a "question"
            r1, r2, r3 = evidence.get(_R1, 0.0), evidence.get(_R2, 0.0), evidence.get(_R3, 0.0)
            # 0 no explicit reproach, 1 disapproval, 2 accusation, 3 blame (rules.yaml's severity)
            level = 3 if r3 > 0 else 2 if r2 > 0 else 1 if r1 > 0 or compound <= bands.negative else 0
            graded = 0 + r1 * 1 + r2 * 2 + r3 * 3
            if level:
                score += cfg.reproach_points * min(cfg.reproach_max, max(graded, float(level)))
                reasons.append(f"reproach: {_LEVELS[level]}")
        points, why = signals.tone(compound, bands, cfg)
        if points > 0 and not (complaint or cat.complaint):
            points /= 2  # a cross question is more urgent, but less than a complaint
        score += points
        if why:
            reasons.append(why)
        # most mentions have no reach, engagement, history or incident: skip those calls then
        if followers > cfg.reach_min_followers or verified or metrics or prior_contacts > 0 or open_incidents:
            for points, why in (
                signals.reach(followers, verified, cfg) if followers > cfg.reach_min_followers or verified else _NONE,
                signals.engagement(metrics, age_hours, cfg) if metrics else _NONE,
                signals.repeat_contact(prior_contacts, cfg) if prior_contacts > 0 else _NONE,
                signals.incident(text.lower(), cat.id, open_incidents, cfg) if open_incidents else _NONE,
            ):
                score += points
                if why:
                    reasons.append(why)
        if found.negated:
            said, c = found.negated[0]
            reasons.append(f"ignored '{said}' (negation{', ' + c if c else ''})")
        score_i = int(round(min(100.0, max(0.0, score))))

        urgency = _band(score_i, rules.thresholds)
        if cat.min_urgency and URGENCY_RANK[urgency] < URGENCY_RANK[cat.min_urgency]:
            urgency = cat.min_urgency
        if cat.max_urgency and URGENCY_RANK[urgency] > URGENCY_RANK[cat.max_urgency]:
            urgency = cat.max_urgency
        if predicted and cat.max_urgency != "ignore":
            urgency = self._blend_urgency(predicted.get("urgency"), urgency, top, reasons)
        if urgency == "ignore" and cat.max_urgency == "ignore":
            reasons.append(f"{cat.id} is never answered")

        confidence = self._confidence(cat, top, runner_up, fallback, compound, bool(found.negated))
        if not english:
            if lang in self._packs:
                confidence *= 0.8
                reasons.append(f"language {lang}: English rules plus the {lang} pack; tone is read in English")
            else:
                # no words for this language: never let it sink quietly
                confidence *= 0.6
                reasons.append(f"language {lang}: a person should check")
                if URGENCY_RANK[urgency] < URGENCY_RANK["normal"] and cat.max_urgency != "ignore":
                    urgency = "normal"
                    score_i = max(score_i, rules.thresholds["normal"])
                actionable = actionable or cat.max_urgency != "ignore"
        if found.danger:
            said, c = found.danger[0]
            reasons.insert(0, f"danger: '{said}' ({c}): always critical")
            urgency = "critical"
            score_i = max(score_i, rules.thresholds["critical"])
        if confidence < LOW_CONFIDENCE:
            reasons.append(f"low confidence ({confidence:.2f}): a person should check")
        return Verdict(urgency, cat.id, complaint, actionable, compound, score_i, confidence, tuple(reasons))  # type: ignore[arg-type]

    def _rules_complaint(self, cat: Category, evidence: Mapping[str, float], compound: float, fallback: bool) -> bool:
        """Whether the words say reality breached the writer's expectation (rules.yaml's definition)."""
        rules = self.rules
        bands = rules.sentiment
        cats = rules.categories
        if fallback:
            return compound <= bands.negative and cat.complaint
        top = evidence.get(cat.id, 0.0)
        problem = evidence.get(PROBLEM, 0.0) if PROBLEM in cats else 0.0
        # evidence of asking or thanking (not of complaining) beside the chosen category, and of
        # complaining in any category (one pass over the few categories with evidence)
        asking: float | None = None
        grievance: float = 0
        for c, v in evidence.items():
            k = cats.get(c)
            if k is None:
                continue
            if k.complaint:
                grievance += v
            elif k.intent and c != cat.id and (asking is None or v > asking):
                asking = v
        if asking is None:
            asking = 0.0
        warm = compound >= bands.positive
        if problem >= rules.min_evidence and not (warm and cat.id == "praise" and grievance < 2):
            return True  # a problem described is a complaint, however politely it is asked
        if cat.complaint:
            # the words say something went wrong; thin words in a warm tone, or asking about a
            # refund in a calm one, do not (asking where a three-day-late parcel is, does)
            return grievance >= 2 or not (warm or (asking >= top and compound > bands.negative))
        # asking is not complaining, unless it is asked angrily or about a let-down
        return cat.actionable and (compound <= bands.negative or grievance >= rules.min_evidence)

    def held_back(self, found: Found) -> str | None:
        """Why the shipped model may not add a complaint the rules did not find (model.Blend), or None:
        the post only asks for a feature, or the rules read a negation."""
        least = self.rules.min_evidence
        evidence = found.evidence
        if evidence.get(SUGGESTION, 0.0) >= least and evidence.get(PROBLEM, 0.0) < least:
            return WISH
        return "a negation" if found.negations > 0 else None

    def _blend_complaint(self, p: float, strongest: list[str], rules_say: bool, held_back: str | None,
                         reasons: list[str]) -> bool:
        """The shipped model's view of the wording (probability `p`, its strongest words when p >=
        0.5: ComplaintModel.read), blended with the rules' (see model.Blend); `held_back`: why the
        model may not add a complaint the rules did not find here (Triage.held_back), or None."""
        blend = self.learned.blend
        decided = blend.decide(rules_say, p, held_back is not None)
        if decided and p >= 0.5:
            shown = ", ".join(f"'{t}'" for t in strongest)
            reasons.append(f"wording like known complaints ({p:.2f})" + (f": {shown}" if shown else ""))
        elif not decided and rules_say:
            reasons.append(f"wording unlike known complaints ({p:.2f}): not counted as a complaint")
        elif not decided and held_back == WISH and p >= blend.add:
            reasons.append(f"wording like known complaints ({p:.2f}), but {WISH}: not counted as a complaint")
        return decided

    def _pick(self, evidence: dict[str, float], compound: float) -> tuple[Category, float, bool]:
        """(category, the runner-up's evidence, whether the tone decided for lack of words)."""
        rules = self.rules
        cats = rules.categories
        order = rules.order
        ranked = [kv for kv in evidence.items() if kv[0] in cats]
        if len(ranked) > 1:
            ranked.sort(key=lambda kv: (-kv[1], order.get(kv[0], 999)))
        if not ranked:
            if compound <= rules.sentiment.negative and rules.fallback_category in cats:
                return cats[rules.fallback_category], 0.0, True
            if compound >= rules.sentiment.positive and rules.positive_fallback_category in cats:
                return cats[rules.positive_fallback_category], 0.0, True
            return _OTHER, 0.0, True
        if len(ranked) == 1:
            return cats[ranked[0][0]], 0.0, False  # no rival (and whether topic or intent, it is the one)
        topics = [kv for kv in ranked if not cats[kv[0]].intent]
        intents = [kv for kv in ranked if cats[kv[0]].intent]
        if topics and topics[0][1] >= rules.min_evidence:
            best = topics[0]
            # a question about a topic is that topic; thanks that mention it, said warmly, are thanks
            if intents and intents[0][1] >= 2 * best[1] and compound >= rules.sentiment.positive \
                    and not cats[intents[0][0]].actionable:
                best = intents[0]
        else:
            best = ranked[0]
        # only a rival of the same kind makes the choice doubtful: asking about a refund is both
        kind = cats[best[0]].intent
        runner = max((v for c, v in ranked if c != best[0] and cats[c].intent == kind), default=0.0)
        return cats[best[0]], runner, False

    def _blend(self, probs: dict[str, float] | None, cat: Category, evidence: dict[str, float],
               reasons: list[str]) -> Category:
        if not probs:
            return cat
        label, p = max(probs.items(), key=lambda kv: kv[1])
        if label == cat.id or label not in self.rules.categories and label != "other":
            return cat
        rule_strength = evidence.get(cat.id, 0.0)
        # the model overrides words only when it is sure and the words are thin
        if p >= self.model.threshold and rule_strength < self.model.max_rule_evidence:
            reasons.insert(0, f"learned model says {label} ({p:.2f}), from the team's corrections")
            return self.rules.categories.get(label, _OTHER)
        return cat

    def _blend_urgency(self, probs: dict[str, float] | None, urgency: str, evidence: float, reasons: list[str]) -> str:
        if not probs:
            return urgency
        label, p = max(probs.items(), key=lambda kv: kv[1])
        if label != urgency and p >= self.model.threshold and evidence < self.model.max_rule_evidence:
            reasons.insert(0, f"learned model says urgency {label} ({p:.2f}), from the team's corrections")
            return label
        return urgency

    def _confidence(self, cat: Category, top: float, runner_up: float, fallback: bool, compound: float,
                    negated: bool) -> float:
        bands = self.rules.sentiment
        if fallback:
            if cat.id == "other":
                return 0.55 if abs(compound) < 0.3 else 0.4
            return min(0.7, 0.3 + 0.4 * abs(compound))
        strength = min(1.0, top / 3.0)
        margin = (top - runner_up) / top if top > 0 else 0.0
        conf = 0.4 + 0.35 * strength + 0.2 * margin
        if cat.complaint and compound <= bands.negative:
            conf += 0.05
        if cat.complaint and compound >= bands.positive:
            conf -= 0.15
        if cat.id == "praise" and compound <= bands.negative:
            conf -= 0.25  # thanks in a furious tone is usually sarcasm
        if negated:
            conf -= 0.05
        return max(0.05, min(0.99, conf))


def _band(score: int, thresholds: Mapping[str, int]) -> str:
    for u in ("critical", "high", "normal", "low"):
        if score >= thresholds[u]:
            return u
    return "low"


def _suppressed(category: str, reason: str) -> Verdict:
    return Verdict("ignore", category, False, False, 0.0, 0, 1.0, (reason,))


def _quote(words: list[str]) -> str:
    # short enough to check at a glance: at most three quotes of at most 40 characters
    return ", ".join(f"'{w}'" if len(w) <= 40 else f"'{w[:39]}…'" for w in words[:3])


def _int(v: Any) -> int:
    try:
        return max(0, int(v))
    except (TypeError, ValueError):
        return 0


assert set(URGENCIES) == set(URGENCY_RANK)
