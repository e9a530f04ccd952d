"""Finnish typesetting: Voikko's break points (the rule where it is absent), no-break spaces, stops, spelling."""

import re

import pytest

from reports import typeset
from tasks.contracts import structure

NB = typeset.NBSP


def shown(text: str, engine: str | None = None) -> str:
    return typeset.hyphenated(text, engine).replace(typeset.SOFT_HYPHEN, "-")


def test_voikko_is_installed_here():
    # `make` installs libvoikko1 and voikko-fi; without them every test below would test the fallback only.
    assert typeset.voikko_available()


@pytest.mark.parametrize(
    ("word", "breaks"),
    [
        ("Terveysasemat", "Ter-veys-ase-mat"),  # the hand rule once gave Ter-vey-sa-se-mat
        ("poliklinikka", "po-li-kli-nik-ka"),  # polik-li-nikka
        ("tavanomaista", "ta-van-omais-ta"),  # tava-no-maista
        ("hoivapalvelujen", "hoi-va-pal-ve-lu-jen"),  # broke without a hyphen in the PDF
        ("Talousarvion", "Ta-lous-ar-vion"),
    ],
)
def test_voikko_breaks_compounds_at_their_seams(word, breaks):
    assert shown(word, "voikko") == breaks


def test_the_rule_stands_in_without_voikko_and_knows_the_declared_seams():
    assert shown("Terveysasemat", "rule") == "Ter-veys-ase-mat"
    assert shown("Talousarvion", "rule") == "Talous-ar-vion"
    assert shown("etäasioinnin", "rule") == "etä-asioin-nin"  # no one-letter syllable beside a seam
    assert shown("strategiakausi", "rule") == "stra-te-gia-kausi"  # opening consonants stay together


@pytest.mark.parametrize("engine", ["voikko", "rule"])
def test_short_words_numbers_and_acronyms_stay_whole_and_the_text_comes_back(engine):
    assert shown("tuen 98,5 % HYVÄTOIMINTAMALLI HUS-yhtymän", engine) == "tuen 98,5 % HYVÄTOIMINTAMALLI HUS-yhtymän"
    text = "Lastensuojelun ja erityisen tuen palvelutarpeen arvioinnit lakisääteisessä ajassa"
    assert typeset.hyphenated(text, engine) != text
    assert typeset.hyphenated(text, engine).replace(typeset.SOFT_HYPHEN, "") == text
    assert typeset.hyphenated(None, engine) == ""
    # A word's own hyphen is not doubled.
    assert "--" not in shown("Henkilöstö- ja kehittämispalvelut", engine)


def test_numbers_keep_their_units_and_no_space_comes_before_a_stop():
    units = typeset._unit_pattern(["vrk"])
    out = typeset.typeset_text("Kulut 450 000 euroa , eli 4,6 % ja 0,15 vrk .", units, hyphenate=False)
    assert out == f"Kulut 450{NB}000{NB}euroa, eli 4,6{NB}% ja 0,15{NB}vrk."
    # A year and a count are not joined as thousands (2024 12 kpl stays two numbers).
    assert typeset.typeset_text("vuonna 2024 12 kpl", units, False) == f"vuonna 2024 12{NB}kpl"
    # A unit is a whole word: "t" for tonnes, not the first letter of "tavoite".
    assert typeset.typeset_text("75 t ja 3 tavoitetta", units, False) == f"75{NB}t ja 3 tavoitetta"


def test_only_the_text_of_the_html_is_touched_and_headings_are_never_broken():
    html = (
        "<style>p { margin: 1 % }</style><h2>Terveysasemat 1 000 €</h2>"
        '<p title="1 000 €">Terveysasemat 1 000 € &amp; 3 %</p>'
    )
    out = typeset.typeset_html(html, hyphenate=True)
    assert "<style>p { margin: 1 % }</style>" in out and 'title="1 000 €"' in out and "&amp;" in out
    assert f"<h2>Terveysasemat 1{NB}000{NB}€</h2>" in out
    assert re.search(f"<p [^>]*>Ter{typeset.SOFT_HYPHEN}veys", out)
    assert typeset.SOFT_HYPHEN not in typeset.typeset_html(html, hyphenate=False)
    # A file name is never hyphenated: a hyphen would read as part of the name.
    name = '<p><span class="file">hoitoonpaasy_202408.csv</span> terveysasemilla</p>'
    assert typeset.typeset_html(name, hyphenate=True).startswith('<p><span class="file">hoitoonpaasy_202408.csv</span>')


def test_a_file_name_may_wrap_after_its_separators():
    out = typeset.breakable("tulosbudjetti_2024.csv, kirjanpito/2024-08.csv")
    assert out.replace(typeset.ZERO_WIDTH_SPACE, "") == "tulosbudjetti_2024.csv, kirjanpito/2024-08.csv"
    assert out.count(typeset.ZERO_WIDTH_SPACE) >= 4
    assert typeset.breakable(None) == ""


# Place names Voikko's dictionary does not hold (a health station named after its square).
PROPER_NAMES = {"Viiskulma"}


def structure_words() -> set[str]:
    s = structure()
    names = [s.city, s.board, s.sector, *(a.name for a in s.areas), *(v.name for a in s.areas for v in a.services)]
    names += [*s.budget_items, *s.health_stations, *(u.name for u in s.assessment_units)]
    # A first part that ends in a hyphen ("Asumis-, kriisi- ja päihdepalvelut") is checked with its hyphen;
    # a hyphen inside a word parts it (HUS-yhtymä).
    words = {w for n in names for w in re.split(r"[\s,/()–]+|-(?=\w)", n)}
    return {w for w in words if w and not w.isupper() and not w.isdigit()} - PROPER_NAMES


def test_the_structures_names_are_spelled_right():
    # The ledger's own spelling ("kehittämisspalvelut") is kept as a source spelling only.
    assert len(structure_words()) > 50
    assert typeset.misspelled(sorted(structure_words())) == {}


def test_a_typo_is_found_with_its_correction():
    assert typeset.misspelled(["kehittämisspalvelut"]) == {"kehittämisspalvelut": ["kehittämispalvelut"]}
