"""`outreach-monitor check`: try the database, every source and Slack, and say what works."""
from __future__ import annotations

from dataclasses import dataclass

from connectors.base import SourceError
from monitor.config import Config


@dataclass(frozen=True)
class CheckResult:
    what: str
    ok: bool
    detail: str
    environment: bool = False  # the machine's fault (database, files), not a credential: exit 3


async def run_checks(cfg: Config) -> list[CheckResult]:
    from monitor.startup import storage_problem
    from monitor.storage.engine import create_engine
    from monitor.storage.migrate import current_revision, head_revision

    results: list[CheckResult] = []
    problem = await storage_problem(cfg.storage.url)
    if problem is not None:  # one line naming the setting and the fix, never a traceback
        results.append(CheckResult("storage", False, str(problem), environment=True))
        return [*results, *await _check_sources_and_slack(cfg)]
    engine = create_engine(cfg.storage.url)
    try:
        rev = await current_revision(engine)
        head = head_revision()
        if rev == head:
            results.append(CheckResult("storage", True, f"schema at {rev}"))
        else:
            results.append(CheckResult("storage", True, f"reachable; schema {rev or 'empty'} → {head} on start"))
    except Exception as e:  # any driver error: the point is to report it readably
        from monitor.startup import explain_storage

        results.append(CheckResult("storage", False, str(explain_storage(e, cfg.storage.url)), environment=True))
    finally:
        await engine.dispose()
    return [*results, *await _check_sources_and_slack(cfg)]


async def _check_sources_and_slack(cfg: Config) -> list[CheckResult]:
    from monitor.sources import build_sources

    results: list[CheckResult] = []
    try:
        sources = build_sources(cfg)
    except SourceError as e:
        return [*results, CheckResult("sources", False, str(e))]
    for name, source in sources.items():
        try:
            await source.check()
            results.append(CheckResult(f"source {name}", True, "credentials and settings work"))
        except SourceError as e:
            results.append(CheckResult(f"source {name}", False, f"{type(e).__name__}: {e}"))
        finally:
            await source.close()

    if cfg.tickets.helpdesk is not None:
        results.append(await _check_helpdesk(cfg))
    if cfg.slack is not None:
        from alerts.slack_delivery import check_slack

        channels = {f"slack.channels.{u}": c for u, c in cfg.slack.channels.items() if c}
        channels["slack.operators_channel"] = cfg.slack.operators_channel
        if cfg.slack.escalation.channel:
            channels["slack.escalation.channel"] = cfg.slack.escalation.channel
        try:
            who = await check_slack(cfg.slack.token, cfg.slack.api_base, channels=channels)
            results.append(CheckResult("slack", True, who))
        except Exception as e:  # SlackCheckFailed carries a readable reason; anything else, say what it was
            results.append(CheckResult("slack", False, str(e) or type(e).__name__))
        from monitor.slack_cockpit import check_cockpit

        results += [CheckResult(what, ok, detail) for what, ok, detail in await check_cockpit(cfg.slack)]
    return results


async def _check_helpdesk(cfg: Config) -> CheckResult:
    from connectors.helpdesk import build_helpdesk

    hc = cfg.tickets.helpdesk
    assert hc is not None
    desk = build_helpdesk(hc)
    try:
        return CheckResult(f"helpdesk {hc.kind}", True, f"{hc.base_url}: {await desk.check()}")
    except SourceError as e:
        return CheckResult(f"helpdesk {hc.kind}", False, f"tickets.helpdesk: {type(e).__name__}: {e}")
    finally:
        await desk.close()
