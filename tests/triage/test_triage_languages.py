"""Beyond English: the platform's `lang` or detection, rule packs for es/de/fr/pt, and a language
with no pack is never silently low."""
from __future__ import annotations

import pytest
import yaml

from monitor.triage import Triage, load_triage
from monitor.triage.language import detect, normalise
from monitor.triage.rules import DEFAULT_RULES_PATH, RulesError, load_rules


@pytest.fixture(scope="module")
def triage() -> Triage:
    return load_triage()


@pytest.mark.parametrize("given,code", [("pt-BR", "pt"), ("EN", "en"), ("und", ""), ("qme", ""), ("", ""), (None, ""), ("de_AT", "de")])
def test_platform_codes_are_normalised(given, code):
    assert normalise(given) == code


@pytest.mark.parametrize("text,lang", [
    ("the app is down again and I can't log in", "en"),
    ("me cobraron dos veces y nadie responde", "es"),
    ("Meine Bestellung ist nicht angekommen", "de"),
    ("mon colis n'est jamais arrivé", "fr"),
    ("o aplicativo não funciona desde ontem", "pt"),
    ("Ciao, il mio ordine non è arrivato", "it"),
    ("thanks!", "en"),  # too short to leave English
])
def test_detection(text, lang):
    assert detect(text, {"es", "de", "fr", "pt"}) == lang


# (text, lang, category, complaint): the main categories in each pack
CASES = [
    ("me cobraron dos veces en la tarjeta", "es", "billing", True),
    ("mi pedido no ha llegado y sigo esperando", "es", "delivery", True),
    ("la app no funciona desde ayer", "es", "outage", True),
    ("¿cómo puedo cambiar mi correo?", "es", "question", False),
    ("zweimal abgebucht, ich will mein Geld zurück", "de", "billing", True),
    ("das Paket ist nicht angekommen", "de", "delivery", True),
    ("die App funktioniert nicht, Störung seit heute", "de", "outage", True),
    ("j'ai été prélevé deux fois", "fr", "billing", True),
    ("mon colis n'est jamais arrivé, toujours pas reçu", "fr", "delivery", True),
    ("le site est en panne, impossible de me connecter", "fr", "outage", True),
    ("fui cobrado duas vezes no cartão", "pt", "billing", True),
    ("meu pedido ainda não chegou", "pt", "delivery", True),
    ("o app não funciona, está fora do ar", "pt", "outage", True),
    # tried by hand as a new user (issue 13)
    ("me han cobrado dos veces", "es", "billing", True),
    ("die App ist seit 3 Stunden down", "de", "outage", True),
    ("die Website geht seit heute Morgen nicht", "de", "outage", True),
    ("seit Stunden kann ich mich nicht einloggen", "de", "outage", True),
    ("le site ne marche plus depuis ce matin", "fr", "outage", True),
    # a double charge as people say it in each language (issue 13's German example came out a question)
    ("Sie haben meine Karte zweimal belastet, bitte erstatten", "de", "billing", True),
    ("ihr habt mir zu viel berechnet", "de", "billing", True),
    ("vous m'avez facturé deux fois ce mois-ci", "fr", "billing", True),
    ("recebi uma cobrança indevida no cartão", "pt", "billing", True),
]


@pytest.mark.parametrize("text,lang,category,complaint", CASES)
def test_packs_cover_the_main_categories(triage, text, lang, category, complaint):
    v = triage.classify_text(text, lang=lang)
    assert (v.category, v.complaint) == (category, complaint), v
    assert any(r.startswith(f"language {lang}: English rules plus the {lang} pack") for r in v.reasons)
    assert triage.classify_text(text).category == category  # detected, same answer


@pytest.mark.parametrize("text", ["Ich wurde doppelt abgebucht, unverschämt",
                                  "Sie haben meine Karte zweimal belastet, bitte erstatten"])
def test_a_german_double_charge_is_alerted_not_low(triage, text):
    v = triage.classify_text(text, lang="de")
    assert v.urgency in {"high", "critical"} and v.complaint


@pytest.mark.parametrize("text,lang", [
    ("grazie mille, tutto perfetto", "it"),
    ("Bedankt voor de snelle levering", "nl"),
    ("配達が遅れています", "ja"),
])
def test_a_language_without_a_pack_is_at_least_normal_and_asks_for_a_person(triage, text, lang):
    v = triage.classify_text(text, lang=lang)
    assert v.urgency in {"normal", "high", "critical"}
    assert f"language {lang}: a person should check" in v.reasons
    assert v.actionable


def test_an_undetected_language_is_found_by_detection(triage):
    v = triage.classify_text("Ciao, il mio ordine non è arrivato e nessuno risponde")
    assert "language it: a person should check" in v.reasons and v.urgency != "low"


def test_a_pack_naming_an_unknown_category_is_refused_with_its_path(tmp_path):
    (tmp_path / "rules.es.yaml").write_text("categories:\n  nonsense:\n    phrases: [hola]\n")
    data = yaml.safe_load(DEFAULT_RULES_PATH.read_text())
    data["language_packs"] = {"es": "rules.es.yaml"}
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(RulesError, match=r"rules.es.yaml: categories.nonsense: no such category"):
        load_rules(tmp_path / "rules.yaml")


@pytest.mark.parametrize("packs,fragment", [
    ({"english": "x.yaml"}, "language_packs.english: a language is a two- or three-letter"),
    ({"es": 3}, "language_packs.es: expected the path"),
    ({"es": "missing.yaml"}, "missing.yaml: cannot read"),
])
def test_bad_language_packs_name_the_yaml_path(tmp_path, packs, fragment):
    data = yaml.safe_load(DEFAULT_RULES_PATH.read_text())
    data["language_packs"] = packs
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(RulesError, match=fragment):
        load_rules(tmp_path / "rules.yaml")


def test_a_copied_rules_file_keeps_the_shipped_packs(tmp_path):
    (tmp_path / "rules.yaml").write_text(DEFAULT_RULES_PATH.read_text())
    assert load_rules(tmp_path / "rules.yaml").languages == ("en", "de", "es", "fr", "pt")
