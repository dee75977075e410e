"""The intent classifiers read look-alike letters as the plain letters they show."""
import pytest
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.folding_tokenizer import FoldingWhitespaceTokenizer
from bot.safety.folding import fold_look_alikes


def _tokens(text: str) -> list[tuple[str, int, int]]:
    tokenizer = FoldingWhitespaceTokenizer(FoldingWhitespaceTokenizer.get_default_config())
    return [(t.text, t.start, t.end) for t in tokenizer.tokenize(Message(data={TEXT: text}), TEXT)]


@pytest.mark.parametrize("typed, read", [
    ("H\u043ew much d\u043ees it c\u043est?", ["How", "much", "does", "it", "cost"]),  # Cyrillic о
    ("wh\u0430t is i\u043ep", ["what", "is", "iop"]),  # Cyrillic а and о
    ("do you t\u0430ke insur\u0430nce", ["do", "you", "take", "insurance"]),
    ("how l\u200bong is the program", ["how", "long", "is", "the", "program"]),  # zero-width
    ("\u1d05\u1d0f \u028f\u1d0f\u1d1c \u1d1b\u1d00\u1d0b\u1d07 "
     "\u1d0d\u1d07\u1d05\u026a\u1d04\u1d00\u026a\u1d05", ["do", "you", "take", "medicaid"]),
    ("\uff28\uff4f\uff57 much", ["How", "much"]),  # fullwidth, capital kept
    ("caf\u00e9 hours", ["cafe", "hours"]),
])
def test_look_alike_letters_are_read_as_the_letters_they_show(typed, read):
    assert [text for text, _, _ in _tokens(typed)] == read


def test_token_offsets_point_into_the_message_as_typed():
    typed = "how l\u200bong is it"
    tokens = _tokens(typed)
    assert [(text, typed[start:end]) for text, start, end in tokens] == [
        ("how", "how"), ("long", "l\u200bong"), ("is", "is"), ("it", "it")]


@pytest.mark.parametrize("typed", ["how much for 30 days in 10001?", "k1ll", "I'm OK :)", ""])
def test_plain_ascii_is_tokenized_exactly_as_rasa_does(typed):
    from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer

    rasa_tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    expected = [(t.text, t.start, t.end)
                for t in rasa_tokenizer.tokenize(Message(data={TEXT: typed}), TEXT)]
    assert _tokens(typed) == expected


@pytest.mark.parametrize("typed", ["\u200b\u200b", "\U0001f622\U0001f622", "\u4f60\u597d"])
def test_messages_with_no_latin_letters_still_get_a_token(typed):
    assert _tokens(typed)


def test_fold_look_alikes_keeps_digits_case_and_spacing():
    folded, origins = fold_look_alikes("Call ME at 555 \u0430fter 5")
    assert folded == "Call ME at 555 after 5"
    assert len(origins) == len(folded)
