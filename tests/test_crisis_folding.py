"""How the crisis net reads a message: each folding step on its own, and the pattern compiler."""
import pytest

from bot.safety.crisis import letter_runs_allowed
from bot.safety.folding import fold, folding_table, spellings


@pytest.mark.parametrize("typed, folded", [
    ("k\u0456ll mys\u0435lf", "kill myself"),  # Cyrillic і and е
    ("\u041a\u0406LL", "kill"),  # Cyrillic capitals К and І
    ("t\u03bfnight", "tonight"),  # Greek omicron
    ("\u1d0b\u026a\u029f\u029f \u1d0d\u028fs\u1d07\u029f\u0493", "kill myself"),  # small caps
    ("\uff4b\uff49\uff4c\uff4c", "kill"),  # fullwidth
    ("\U0001d424\U0001d422\U0001d425\U0001d425", "kill"),  # mathematical bold
    ("ki\u200bll", "kill"),  # zero-width space
    ("ki\u200c\u200dll", "kill"),  # zero-width non-joiner and joiner
    ("ki\u00adll", "kill"),  # soft hyphen
    ("\ufeffkill\u2060", "kill"),  # byte-order mark, word joiner
    ("\u200fkill\u200e", "kill"),  # direction marks
    ("Tomó muchas pastillas", "tomo muchas pastillas"),
    ("Niño, señora, pingüino", "nino, senora, pinguino"),
    ("¿Cuánto cuesta? ¡Hola!", "¿cuanto cuesta? ¡hola!"),
    ("don\u2019t  \u00b4n `em", "don't 'n 'em"),
])
def test_fold_undoes_what_changes_how_a_word_looks_not_what_it_says(typed, folded):
    assert fold(typed) == folded


def test_fold_leaves_plain_latin_and_spanish_punctuation_alone():
    text = "hi, how much does it cost? 24/7 call 911 or 988, $20 copay ¿qué? ¡sí!"
    assert fold(text) == text.replace("é", "e").replace("í", "i")


def test_look_alikes_map_only_letters_and_only_to_ascii_letters_or_digits():
    for code, value in folding_table().items():
        character = chr(code)
        assert not (character.isascii() and character.isalnum()), character
        assert value is None or value == "'" or (value.isascii() and value.isalnum()), character
    # Spanish punctuation is not a letter look-alike.
    assert ord("¡") not in folding_table() and ord("¿") not in folding_table()


@pytest.mark.parametrize("typed, reading", [
    ("k1ll mys3lf", "kill myself"),
    ("$uicide", "suicide"),
    ("wanna d!e!!", "wanna die!!"),  # "!" between letters is an "i"; at the end it is "!"
    ("g0nna 0verdose", "gonna overdose"),
    ("(k1ll)", "(kill)"),
])
def test_digits_and_symbols_inside_words_are_read_as_letters(typed, reading):
    assert spellings(typed)[0] == reading


@pytest.mark.parametrize("text", ["call 911 now", "text 988", "$20 copay", "24/7?", "help!!",
                                  "1-800-662-4357", "3 weeks, 5 days"])
def test_numbers_and_punctuation_stay_as_typed(text):
    assert spellings(text) == [text.lower()]


def test_a_one_may_be_an_l():
    assert "kill myself" in spellings("ki11 myself")


@pytest.mark.parametrize("typed, joined", [
    ("k i l l m y s e l f", "killmyself"),
    ("i want to d i e", "i want to die"),
    ("s.u.i.c.i.d.e", "suicide"),
    ("k-i-l-l myself", "kill myself"),
    ("k y s", "kys"),
])
def test_letters_spelt_out_one_by_one_are_joined(typed, joined):
    assert joined in spellings(typed)


@pytest.mark.parametrize("text", ["i am a b", "a b cat", "is it a good time?", "e.g. this"])
def test_ordinary_one_letter_words_are_not_joined(text):
    assert spellings(text) == [text]


@pytest.mark.parametrize("pattern, compiled", [
    ("die", "d+i+e+"),
    ("kill", "k+i+l+l+"),  # still needs two l's: "kil" is not "kill"
    (r"\bmy\s*self\b", r"\bm+y+\s*s+e+l+f+\b"),
    ("kil+", "k+i+l+"),
    ("don'?t", "d+o+n+'?t+"),
    ("overdos(?:ed|ing)?", "o+v+e+r+d+o+s+(?:e+d+|i+n+g+)?"),
    ("o[d]'[d]", "o+[d]'[d]"),  # a letter in brackets matches once: "odd" is not "od'd"
    ("wants?", "w+a+n+t+s*"),
    (r"[^.!?]*(?:\w+\s+){0,3}", r"[^.!?]*(?:\w+\s+){0,3}"),
])
def test_each_pattern_letter_also_matches_a_stretched_run(pattern, compiled):
    assert letter_runs_allowed(pattern) == compiled


def test_a_lone_surrogate_neither_fails_nor_hides_a_crisis():
    # JSON lets a client send "\ud800"; encoding it for RE2 used to raise.
    from bot.safety.crisis import CrisisDetector
    from bot.settings import load_settings

    detector = CrisisDetector.from_file(load_settings().crisis_patterns_path)
    assert detector.detect("\ud800 i want to kill myself") is not None
    assert detector.detect("\udfff\ud800") is None
