"""outreach.notices.due() as its docstring's table; templates never let internal names out."""
from __future__ import annotations

import pytest

from outreach import notices
from outreach.templates import PublicFacts, Templates, UnsafePublicText, check_public

OPENED, FIRST_AFTER, EVERY = 1000.0, 120.0, 1800.0
DUE = [
    # public, resolved, latest, told_update, told_at, now,   → result
    (False, False, 5, None, None, 5000.0, None),
    (True, False, 5, None, None, OPENED + 60, None),
    (True, False, 5, None, None, OPENED + 120, "first"),
    (True, False, 6, 5, 1200.0, 1300.0, "update"),
    (True, False, 5, 5, 1200.0, 1200.0 + EVERY, "reminder"),
    (True, False, 5, 5, 1200.0, 1200.0 + EVERY - 1, None),
    (True, True, 7, None, None, 5000.0, None),
    (True, True, 7, 5, 1200.0, 1300.0, "all_clear"),
    (True, True, 7, 7, 1300.0, 9000.0, None),
]


@pytest.mark.parametrize(("public", "resolved", "latest", "told", "told_at", "now", "want"), DUE)
def test_due_table(public, resolved, latest, told, told_at, now, want) -> None:
    assert notices.due(public=public, resolved=resolved, opened_at=OPENED, latest_update=latest, told_update=told,
                       told_at=told_at, now=now, first_after=FIRST_AFTER, every=EVERY) == want


LEAKS = [
    ("We are investigating problems with Checkout.", None),
    ("Error from 10.0.3.7 again", "IP address"),
    ("fe80:0:0:0:202:b3ff:fe1e:8329 refused", "IP address"),
    ("db-1.eu.internal is down", "internal host"),
    ("checkout-health says 503", "internal name"),
    ("api.acme-origin.net timed out", "internal name"),
    ("Version 2.10.1 is out", None),  # three dots are not an address
]


@pytest.mark.parametrize(("text", "problem"), LEAKS)
def test_public_text_check(text: str, problem: str | None) -> None:
    forbidden = ["checkout-health", "api.acme-origin.net"]
    if problem is None:
        check_public(text, forbidden)
    else:
        with pytest.raises(UnsafePublicText, match=problem):
            check_public(text, forbidden)


def test_a_person_writing_a_host_into_an_update_is_held_not_sent(tmp_path) -> None:
    t = Templates(forbidden=["checkout-health"])
    facts = PublicFacts("Checkout", "identified", "Fixed the LB at 10.1.2.3", "10:00 UTC", "", "Acme")
    with pytest.raises(UnsafePublicText):
        t.render("email_body", facts)
    (tmp_path / "email_subject.j2").write_text("{{ service }} — {{ status_label }} ({{ ''.__class__.__mro__ }})")
    with pytest.raises(Exception, match="unsafe|access"):  # the sandbox refuses attribute games
        Templates(tmp_path).render("email_subject", PublicFacts("Checkout", "identified", "x", "", "", "Acme"))


def test_subscriber_matching() -> None:
    s = notices.Subscriber("a@b.c", "email", services=("delivery",), regions=("north",))
    assert s.wants("delivery") and s.wants("delivery", "north") and not s.wants("delivery", "south")
    assert not s.wants("checkout") and notices.Subscriber("x@y.z", "email").wants("anything", "any", "seg")
