"""Rasa tokenizer that lets the intent classifiers read look-alike letters as the letters they show.

Someone who pastes "Hоw much dоes it cоst?" (Cyrillic о) or whose phone slipped a zero-width
space into a word should get the same answer as someone who typed plain letters. The crisis
net folds the whole message itself (bot/safety/folding.py); this gives DIET and the
ResponseSelector the same view of the letters. Only what changes how a letter looks is
folded: digits are not read as letters here, because "30 days" and a ZIP code mean what
they say to a classifier.
"""
from __future__ import annotations

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message

from bot.safety.folding import fold_look_alikes


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class FoldingWhitespaceTokenizer(WhitespaceTokenizer):
    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        text = message.get(attribute)
        if not isinstance(text, str) or text.isascii():
            return super().tokenize(message, attribute)
        folded, origins = fold_look_alikes(text)
        if not folded.strip():
            # Nothing but format characters: tokenized as typed, as an emoji-only message is.
            return super().tokenize(message, attribute)
        tokens = super().tokenize(Message(data={attribute: folded}), attribute)
        for token in tokens:
            # Offsets point into the message as typed, which is what the RegexFeaturizer
            # matches against.
            token.start, token.end = origins[token.start], origins[token.end - 1] + 1
        return tokens
