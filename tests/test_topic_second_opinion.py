"""The second opinion: blending arithmetic as plain functions, then the NLU component itself."""
import logging
import subprocess
import sys
import uuid

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.label_blend import (
    blend,
    intent_ranking_from,
    softmax,
    topic_ranking_from,
    two_stage_label_scores,
)
from bot.nlu.lookup_features import LookupMatches, lookup_lists
from bot.nlu.sentence_encoder import SentenceEmbeddings
from bot.nlu.topic_second_opinion import TopicSecondOpinion


def test_two_stage_scores_split_the_faq_intent_across_its_topics():
    scores = two_stage_label_scores(
        [{"name": "faq", "confidence": 0.8}, {"name": "greet", "confidence": 0.2}],
        {"faq": [{"intent_response_key": "faq/cost", "confidence": 0.75},
                 {"intent_response_key": "faq/insurance", "confidence": 0.25}]},
    )
    assert scores == pytest.approx({"faq/cost": 0.6, "faq/insurance": 0.2, "greet": 0.2})


def test_a_retrieval_intent_without_a_topic_ranking_keeps_its_bare_name():
    assert two_stage_label_scores([{"name": "faq", "confidence": 0.7}], {}) == {"faq": 0.7}


def test_softmax_keeps_the_order_sums_to_one_and_sharpens_with_temperature():
    margins = {"faq/cost": 0.4, "greet": -0.2, "deny": -0.9}
    mild, sharp = softmax(margins, 1.0), softmax(margins, 5.0)
    assert sum(mild.values()) == pytest.approx(1.0)
    assert max(mild, key=mild.get) == max(sharp, key=sharp.get) == "faq/cost"
    assert sharp["faq/cost"] > mild["faq/cost"]
    assert softmax({}, 5.0) == {}


def test_blend_weights_each_side_and_counts_a_missing_label_as_zero():
    blended = blend({"greet": 1.0}, {"greet": 0.5, "faq/cost": 0.5}, first_weight=0.5)
    assert blended == pytest.approx({"greet": 0.75, "faq/cost": 0.25})


def test_intent_ranking_scores_each_intent_by_its_best_topic_not_the_sum():
    ranking = intent_ranking_from({"faq/cost": 0.35, "faq/insurance": 0.33, "greet": 0.32})
    # An even split between two topics reads as unsure, so the fallback can step in.
    assert ranking == [("faq", 0.35), ("greet", 0.32)]


def test_topic_ranking_lists_only_that_retrieval_intent_best_first():
    ranking = topic_ranking_from({"faq/cost": 0.2, "faq/detox": 0.5, "greet": 0.9}, "faq")
    assert ranking == [("faq/detox", 0.5), ("faq/cost", 0.2)]


# The component, trained on a small data set of its own.
TRAINING = {
    "greet": ["hi", "hello", "hey there", "good morning", "hello?", "hiya"],
    "faq/cost": ["how much does it cost", "what's the price", "is it expensive",
                 "how much do i pay", "what does iop cost per week", "price?"],
    "faq/detox": ["do you do detox", "i need to detox first", "is there medical detox",
                  "can i detox at home", "withdrawal help?", "detox?"],
}
# "shakes" and "dts" are in no example: only the lookup list ties them to detox.
LOOKUPS = [{"name": "withdrawal", "elements": ["detox", "withdrawal", "shakes", "dts"]},
           {"name": "money", "elements": ["cost", "price", "pay", "afford"]}]
RESPONSES = {"utter_faq/cost": [{"text": "Costs vary."}],
             "utter_faq/detox": [{"text": "Detox comes first when needed."}]}


def _training_data() -> TrainingData:
    messages = []
    for label, texts in TRAINING.items():
        intent, _, topic = label.partition("/")
        for text in texts:
            data = {"text": text, "intent": intent}
            if topic:
                data["intent_response_key"] = label
            messages.append(Message(data=data))
    return TrainingData(training_examples=messages, responses=RESPONSES, lookup_tables=LOOKUPS)


@pytest.fixture
def storage_and_resource(tmp_path):
    return LocalModelStorage(tmp_path), Resource(f"second_opinion_{uuid.uuid4().hex}")


def _train(storage, resource, **config):
    context = ExecutionContext(GraphSchema({}), "test")
    component = TopicSecondOpinion.create(
        {**TopicSecondOpinion.get_default_config(), **config}, storage, resource, context)
    component.train(_training_data())
    return component


@pytest.fixture
def trained(storage_and_resource):
    return _train(*storage_and_resource)


def _after_diet(text, intents, topics):
    """A message as DIET and the ResponseSelector leave it."""
    message = Message(data={"text": text})
    ranking = [{"name": name, "confidence": c} for name, c in intents]
    message.set("intent", ranking[0])
    message.set("intent_ranking", ranking)
    message.set("response_selector", {
        "all_retrieval_intents": ["faq"],
        "faq": {
            "response": {"responses": [{"text": "stale"}], "confidence": topics[0][1],
                         "intent_response_key": topics[0][0],
                         "utter_action": f"utter_{topics[0][0]}"},
            "ranking": [{"id": i, "confidence": c, "intent_response_key": key}
                        for i, (key, c) in enumerate(topics)],
        },
    })
    return message


def test_a_topic_the_selector_missed_is_answered_with_that_topic(trained):
    # DIET is right that it is an FAQ, but the selector picked the wrong topic, narrowly.
    message = _after_diet("how much would i pay for iop", [("faq", 0.9), ("greet", 0.1)],
                          [("faq/detox", 0.55), ("faq/cost", 0.45)])
    [message] = trained.process([message])
    selection = message.get("response_selector")["faq"]["response"]
    assert message.get("intent")["name"] == "faq"
    assert selection["intent_response_key"] == "faq/cost"
    assert selection["utter_action"] == "utter_faq/cost"
    assert selection["responses"] == RESPONSES["utter_faq/cost"]
    ranking = message.get("response_selector")["faq"]["ranking"]
    ranked = [entry["intent_response_key"] for entry in ranking]
    assert ranked == ["faq/cost", "faq/detox"]


def test_an_intent_diet_narrowly_missed_is_corrected(trained):
    message = _after_diet("hello", [("faq", 0.55), ("greet", 0.45)],
                          [("faq/cost", 0.6), ("faq/detox", 0.4)])
    [message] = trained.process([message])
    assert message.get("intent")["name"] == "greet"
    assert [entry["name"] for entry in message.get("intent_ranking")] == ["greet", "faq"]


def test_confident_agreement_stays_confident(trained):
    message = _after_diet("do you do detox", [("faq", 0.98), ("greet", 0.02)],
                          [("faq/detox", 0.97), ("faq/cost", 0.03)])
    [message] = trained.process([message])
    assert message.get("intent")["name"] == "faq"
    assert message.get("intent")["confidence"] > 0.8
    assert message.get("response_selector")["faq"]["response"]["intent_response_key"] == "faq/detox"


def test_an_empty_message_is_left_for_the_no_words_guard(trained):
    message = _after_diet("", [("greet", 0.6), ("faq", 0.4)], [("faq/cost", 1.0)])
    [message] = trained.process([message])
    assert message.get("intent") == {"name": "greet", "confidence": 0.6}


def test_the_persisted_model_loads_and_answers_the_same(trained, storage_and_resource):
    storage, resource = storage_and_resource
    loaded = TopicSecondOpinion.load(TopicSecondOpinion.get_default_config(), storage, resource,
                                     ExecutionContext(GraphSchema({}), "test"))
    for component in (trained, loaded):
        message = _after_diet("what's the price of it", [("greet", 0.6), ("faq", 0.4)],
                              [("faq/detox", 0.6), ("faq/cost", 0.4)])
        [message] = component.process([message])
        response = message.get("response_selector")["faq"]["response"]
        assert response["intent_response_key"] == "faq/cost"
        assert message.get("intent")["name"] == "faq"


def test_a_word_known_only_from_a_lookup_list_counts_for_its_topic(tmp_path):
    # DIET cannot tell; the message shares no word with any training example.
    def topic_for(component):
        message = _after_diet("i get the shakes bad", [("faq", 0.9), ("greet", 0.1)],
                              [("faq/cost", 0.5), ("faq/detox", 0.5)])
        [message] = component.process([message])
        return message.get("response_selector")["faq"]["response"]["intent_response_key"]

    storage = LocalModelStorage(tmp_path)
    # A full weight: with six examples a label, n-grams of "i get the ... bad" outweigh one
    # column at the default 0.3, which cross-validation chose on the real data.
    with_lookups = _train(storage, Resource("with_lookups"), lookup_weight=1.0)
    without_lookups = _train(storage, Resource("without_lookups"), lookup_weight=0.0)
    assert topic_for(with_lookups) == "faq/detox"
    assert topic_for(without_lookups) == "faq/cost"
    # Saved and loaded, the lookup features come back with the model (skops trusts them).
    loaded = TopicSecondOpinion.load(TopicSecondOpinion.get_default_config(), storage,
                                     Resource("with_lookups"),
                                     ExecutionContext(GraphSchema({}), "test"))
    assert topic_for(loaded) == "faq/detox"


def test_a_message_sharing_no_topic_word_is_placed_by_its_meaning(tmp_path):
    # No detox example says "sick", "quit" or "drinking"; the sentence encoder knows that
    # getting sick when quitting is withdrawal. DIET is left undecided.
    def label_for(component):
        message = _after_diet("will i get sick when i quit drinking",
                              [("faq", 0.5), ("greet", 0.5)],
                              [("faq/cost", 0.5), ("faq/detox", 0.5)])
        [message] = component.process([message])
        return message.get("response_selector")["faq"]["response"]["intent_response_key"], \
            message.get("intent")["name"]

    storage = LocalModelStorage(tmp_path)
    with_encoder = _train(storage, Resource("with_encoder"), embedding_weight=1.0)
    without_encoder = _train(storage, Resource("without_encoder"), embedding_weight=0.0)
    assert label_for(with_encoder) == ("faq/detox", "faq")
    assert label_for(without_encoder) != ("faq/detox", "faq")
    # Asked only when the n-gram answer is unsure: below 0 it never is, so nothing changes.
    never_asked = _train(storage, Resource("never_asked"), embedding_weight=1.0,
                         encoder_when_unsure_below=0.0)
    assert label_for(never_asked) == label_for(without_encoder)
    asked_when_unsure = _train(storage, Resource("asked_when_unsure"), embedding_weight=1.0,
                               encoder_when_unsure_below=0.9)
    assert label_for(asked_when_unsure) == ("faq/detox", "faq")
    # Saved and loaded, the encoder's features come back with the model (skops trusts them).
    loaded = TopicSecondOpinion.load(TopicSecondOpinion.get_default_config(), storage,
                                     Resource("with_encoder"),
                                     ExecutionContext(GraphSchema({}), "test"))
    assert label_for(loaded) == ("faq/detox", "faq")


def test_a_message_the_n_grams_are_sure_of_never_reaches_the_encoder(tmp_path, monkeypatch):
    component = _train(LocalModelStorage(tmp_path), Resource("cascade"), embedding_weight=1.0,
                       encoder_when_unsure_below=0.8)

    def encoder_called(self, texts):
        raise AssertionError(f"encoder asked about {texts}")

    monkeypatch.setattr(SentenceEmbeddings, "transform", encoder_called)
    message = _after_diet("do you do detox", [("faq", 0.98), ("greet", 0.02)],
                          [("faq/detox", 0.97), ("faq/cost", 0.03)])
    [message] = component.process([message])
    assert message.get("response_selector")["faq"]["response"]["intent_response_key"] == "faq/detox"
    unsure = _after_diet("will i get sick when i quit drinking", [("faq", 0.5), ("greet", 0.5)],
                         [("faq/cost", 0.5), ("faq/detox", 0.5)])
    with pytest.raises(AssertionError, match="encoder asked"):
        component.process([unsure])


def test_without_the_encoders_files_the_n_grams_decide_alone(tmp_path, monkeypatch, caplog):
    from bot.nlu import topic_second_opinion
    from bot.nlu.sentence_encoder import ModelFilesError

    storage = LocalModelStorage(tmp_path)
    _train(storage, Resource("trained_with_encoder"), embedding_weight=1.0)

    def files_gone():
        raise ModelFilesError("sentence encoder file missing: model.safetensors")

    monkeypatch.setattr(topic_second_opinion, "default_encoder", files_gone)
    with caplog.at_level(logging.WARNING):
        loaded = TopicSecondOpinion.load(
            {**TopicSecondOpinion.get_default_config(), "embedding_weight": 1.0}, storage,
            Resource("trained_with_encoder"), ExecutionContext(GraphSchema({}), "test"))
    assert "n-grams decide alone" in caplog.text

    def encoder_called(self, texts):
        raise AssertionError("the encoder was asked although its files are gone")

    monkeypatch.setattr(SentenceEmbeddings, "transform", encoder_called)
    message = _after_diet("do you do detox", [("faq", 0.6), ("greet", 0.4)],
                          [("faq/detox", 0.6), ("faq/cost", 0.4)])
    [message] = loaded.process([message])
    assert message.get("response_selector")["faq"]["response"]["intent_response_key"] == "faq/detox"


def test_without_a_stored_model_diet_decides_alone(storage_and_resource):
    storage, _ = storage_and_resource
    missing = TopicSecondOpinion.load(TopicSecondOpinion.get_default_config(), storage,
                                      Resource("never_trained"),
                                      ExecutionContext(GraphSchema({}), "test"))
    message = _after_diet("hello", [("faq", 0.55), ("greet", 0.45)], [("faq/cost", 1.0)])
    [message] = missing.process([message])
    assert message.get("intent") == {"name": "faq", "confidence": 0.55}


def test_loading_the_component_leaves_the_servers_logging_as_it_was(tmp_path):
    """skops resets the root logger on import; the Rasa server's INFO lines must survive it."""
    script = (
        "import logging; logging.basicConfig(level=logging.INFO)\n"
        "from pathlib import Path\n"
        "from rasa.engine.graph import ExecutionContext, GraphSchema\n"
        "from rasa.engine.storage.local_model_storage import LocalModelStorage\n"
        "from rasa.engine.storage.resource import Resource\n"
        "from bot.nlu.topic_second_opinion import TopicSecondOpinion\n"
        "TopicSecondOpinion.load(TopicSecondOpinion.get_default_config(),\n"
        f"    LocalModelStorage(Path({str(tmp_path)!r})), Resource('none'),\n"
        "    ExecutionContext(GraphSchema({}), 'test'))\n"
        "print(logging.getLogger('bot.nlu.crisis_guard').getEffectiveLevel())\n"
    )
    # A fresh interpreter: in this one skops may already have been imported.
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip().splitlines()[-1] == str(logging.INFO)


def test_lookup_matches_whole_words_and_phrases_in_any_case():
    lookups = [{"name": "contact", "elements": ["open", "phone number"]},
               {"name": "money", "elements": ["cost", "$"]}]
    matrix = LookupMatches(lookups, weight=0.3).transform(
        ["Are you OPEN today?", "what's your phone number", "it opened last year",
         "what does it cost", "is it $500 a week", "", "💙💙"]
    ).toarray()
    assert matrix.tolist() == [[0.3, 0.0], [0.3, 0.0], [0.0, 0.0], [0.0, 0.3], [0.0, 0.3],
                               [0.0, 0.0], [0.0, 0.0]]


def test_lookup_lists_that_are_empty_or_name_a_file_add_nothing():
    training_data = TrainingData(lookup_tables=[
        {"name": "empty", "elements": []},
        {"name": "old_style", "elements": "data/lookups/insurers.txt"},
        {"name": "money", "elements": ["cost"]},
    ])
    lookups = lookup_lists(training_data)
    assert [table["name"] for table in lookups] == ["empty", "money"]
    assert LookupMatches(lookups).transform(["cost?"]).toarray().tolist() == [[0.0, 0.3]]
