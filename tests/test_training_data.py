"""The NLU data honours the intent-name contract and has enough varied examples."""
import pytest

FAQ_TOPICS = [
    "what_is_iop", "what_happens", "duration", "schedule", "cost", "insurance", "detox",
    "eligibility", "levels_of_care", "family", "co_occurring", "telehealth", "confidentiality",
    "medication", "aftercare", "effectiveness", "location_hours", "support_groups",
]
CORE_INTENTS = [
    "greet", "goodbye", "affirm", "deny", "thank", "start_prescreen", "request_human",
    "crisis", "out_of_scope",
]


@pytest.mark.parametrize("intent", [f"faq/{t}" for t in FAQ_TOPICS] + CORE_INTENTS)
def test_each_contract_intent_has_at_least_20_distinct_examples(intent, nlu_examples):
    examples = nlu_examples.get(intent, [])
    assert len({e.lower() for e in examples}) >= 20, f"{intent} has {len(examples)} examples"


@pytest.mark.parametrize("topic", FAQ_TOPICS)
def test_each_faq_topic_has_an_answer(topic, responses):
    assert f"utter_faq/{topic}" in responses


def test_no_example_is_claimed_by_two_intents(nlu_examples):
    owner: dict[str, str] = {}
    clashes = []
    for intent, examples in nlu_examples.items():
        for example in examples:
            key = example.lower()
            if key in owner and owner[key] != intent:
                clashes.append((example, owner[key], intent))
            owner[key] = intent
    assert clashes == []



def test_held_out_messages_never_reach_the_training_data(nlu_examples):
    """`make nlu-report` scores tests/data/nlu_holdout.yml as unseen; a copy would fake it."""
    import yaml

    from bot.settings import PROJECT_ROOT

    held_out = yaml.safe_load((PROJECT_ROOT / "tests" / "data" / "nlu_holdout.yml").read_text())
    held_out_texts = {
        line[2:].strip().lower()
        for block in held_out["nlu"]
        for line in block["examples"].splitlines()
        if line.startswith("- ")
    }
    trained = {e.lower() for examples in nlu_examples.values() for e in examples}
    assert len(held_out_texts) >= 140
    assert sorted(held_out_texts & trained) == []
