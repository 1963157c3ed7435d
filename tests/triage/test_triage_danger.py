"""Danger is never normal: threats, weapons, self-harm, injury, fire or smoke, data breach.

Tables per language (the shipped rules and their es/de/fr/pt packs), and negations that must not
raise the alarm. `lang` is given as a platform would; a second table checks detection finds the
same without it.
"""
from __future__ import annotations

import pytest

from monitor.triage import Triage, load_triage


@pytest.fixture(scope="module")
def triage() -> Triage:
    return load_triage()


DANGER = {
    "en": [
        "I'm coming to your store with a gun if you don't refund me",
        "I will bring a knife next time and see who laughs",
        "i'm going to shoot everyone at your office",
        "the delivery guy pulled a knife on me",
        "I don't want to live anymore",
        "honestly thinking about suicide after this week",
        "I want to kill myself",
        "going to end my life tonight",
        "my son was injured by your scooter",
        "the kettle burned my hand badly",
        "my daughter choked on a part of the toy",
        "got an electric shock from the charger",
        "smoke in the cabin and nobody is telling us anything",
        "the charger caught fire in my kid's room",
        "my phone exploded in my pocket",
        "there's a burning smell from the battery and it's hot",
        "the laptop is smoking on my desk",
        "your app leaked my personal data",
        "there has been a data breach, my password was exposed",
        "I can see someone else's orders and address in my account",
        "got food poisoning from your chicken wrap",
        "the driver threatened me at my door",
        # tried by hand as a new user (issue 13)
        "if my refund isn't here by friday I will find your driver and hurt him",
        "I know where your CEO lives and I'm going to make him pay",
        "I'll burn your shop down",
        "gonna beat the crap out of your delivery guy",
        "your staff member threatened to hit me",
        "I'm thinking of ending it all",
    ],
    "es": [
        "el cargador echó humo y se incendió",
        "el móvil explotó mientras cargaba",
        "mi hijo resultó herido con el patinete",
        "no quiero vivir más, estoy harto de todo",
        "voy a matar al repartidor",
        "me amenazó con un cuchillo",
        "hubo una filtración de datos y mis datos fueron publicados",
        "la batería está en llamas",
        "voy a quemar vuestra tienda",
        "te voy a partir la cara si no me devuelves el dinero",
        "sé dónde vives y te vas a enterar",
        "hay un hombre armado en la tienda",
        "quiero acabar con mi vida",
        "ya no tengo ganas de vivir",
        "huele a quemado",
    ],
    "de": [
        "das Ladegerät hat Feuer gefangen",
        "aus dem Laptop kommt Rauch",
        "mein Sohn wurde verletzt",
        "ich will nicht mehr leben",
        "er hat mich mit einem Messer bedroht",
        "es gab ein Datenleck, meine Daten wurden gestohlen",
        "der Akku ist explodiert",
        "ich bring euch alle um",
        "ich werde euren Laden anzünden",
        "ich weiß wo du wohnst",
        "der Fahrer hat mich geschlagen",
        "ich will mir das Leben nehmen",
    ],
    "fr": [
        "la batterie a pris feu cette nuit",
        "il y a de la fumée qui sort du chargeur",
        "ma fille a été blessée par le produit",
        "je veux mourir, je n'en peux plus",
        "il m'a menacé avec un couteau",
        "fuite de données : mes données ont été volées",
        "je vais brûler votre magasin",
        "je sais où tu habites",
        "ça sent le brûlé",
    ],
    "pt": [
        "o celular pegou fogo enquanto carregava",
        "está saindo fumaça do carregador",
        "meu filho ficou ferido com o produto",
        "não quero mais viver",
        "o entregador me ameaçou com uma faca",
        "houve vazamento de dados e meus dados foram expostos",
        "vou te matar",
        "vou queimar a sua loja",
        "sei onde você mora",
        "estou pensando em suicídio",
        "quero acabar com a minha vida",
    ],
}

SAFE = {
    "en": [
        "the site is not on fire anymore, thanks for the quick fix",
        "the phone is not smoking anymore after the update",
        "nobody was hurt, but the delivery was late",
        "no one got injured, the box was just damaged",
        "you guys are on fire this season, great deals",
        "I'm dying of laughter at this ad",
        "shoot me an email when my order ships",
        "I bought a Fire TV stick and the remote doesn't pair",
        "I'm going to kill it at this interview thanks to your course",
        "no data was leaked, just asking about the password reset",
        "is there a shot at making my connection in Detroit?",
        "smoking is not allowed in the hotel, right?",
        "my new gun skins disappeared from my inventory",
        "the hospitality at the lounge was great",
        "to add insult to injury the refund is late",
        "my inbox exploded with your promo emails",
        "I'll beat the traffic if the train is on time",
        "the new update will burn through my data plan",
        "she threatened to cancel her subscription",
    ],
    "es": ["ya no sale humo del cargador", "ya no huele a quemado", "nadie resultó herido, pero el paquete llegó roto", "me muero de risa con el anuncio"],
    "de": ["mein Handy raucht nicht mehr", "niemand wurde verletzt, das Paket war nur beschädigt"],
    "fr": ["plus de fumée depuis la mise à jour", "personne n'a été blessé, merci", "je suis mort de rire"],
    "pt": ["não sai mais fumaça do carregador", "ninguém ficou ferido, só o pacote chegou amassado", "morrendo de rir"],
}


@pytest.mark.parametrize("lang,text", [(lang, t) for lang, ts in DANGER.items() for t in ts])
def test_danger_is_always_critical_with_a_reason(triage, lang, text):
    v = triage.classify_text(text, lang=lang)
    assert v.urgency == "critical", v
    assert v.actionable
    assert v.reasons[0].startswith("danger: '"), v.reasons


@pytest.mark.parametrize("lang,text", [(lang, t) for lang, ts in DANGER.items() for t in ts if len(t) > 25])
def test_danger_is_found_without_the_platform_saying_the_language(triage, lang, text):
    assert triage.classify_text(text).urgency == "critical"


# short posts in a pack's language are often too short to detect and are read as English: the
# packs' danger words count there too
SHORT = ["me quiero morir", "quero morrer", "vou me matar", "das Handy qualmt", "o motorista me agrediu", "huele a quemado"]


@pytest.mark.parametrize("text", SHORT)
def test_short_danger_in_a_pack_language_is_critical_without_the_platform_saying_the_language(triage, text):
    v = triage.classify_text(text)
    assert v.urgency == "critical", v
    assert v.reasons[0].startswith("danger: '"), v.reasons


@pytest.mark.parametrize("lang,text", [(lang, t) for lang, ts in SAFE.items() for t in ts])
def test_negated_or_harmless_wording_is_not_danger(triage, lang, text):
    v = triage.classify_text(text, lang=lang)
    assert v.urgency != "critical", v
    assert not any(r.startswith("danger:") for r in v.reasons), v.reasons


def test_danger_wins_the_category_and_beats_a_topic(triage):
    v = triage.classify_text("refund me now or I'll come to your store with a gun", lang="en")
    assert (v.urgency, v.category) == ("critical", "safety")
    breach = triage.classify_text("your app leaked my personal data and charged me twice", lang="en")
    assert (breach.urgency, breach.category) == ("critical", "security")


def test_a_handle_is_not_a_word(triage):
    # "@SmokeHouseBBQ" is an account, not smoke
    v = triage.classify_text("@SmokeyBones @FireTVSupport my order is late", lang="en")
    assert v.urgency != "critical"
