"""The coverage check: a question no topic's examples come near gets `question_not_covered`."""
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.answer_coverage import AnswerCoverage

TOPICS = {
    "faq/drug_testing": ["do you drug test", "will i have to give a urine sample",
                         "are there random drug screens", "do you test for alcohol"],
    "faq/cost": ["how much does it cost", "what is the price per week",
                 "how much would i pay out of pocket", "is it expensive"],
}


UNANSWERABLE = ["is there a swimming pool", "do you have a gym", "can i get a massage there",
                "do you offer reiki"]


def _training_data() -> TrainingData:
    return TrainingData([
        Message.build(text, intent="faq", intent_response_key=key)
        for key, texts in TOPICS.items() for text in texts
    ] + [Message.build("hello there", intent="greet")]
      + [Message.build(text, intent="question_not_covered") for text in UNANSWERABLE])


def _picked(text: str, key: str, intent: str = "faq", confidence: float = 0.5) -> Message:
    message = Message.build(text)
    message.set("intent", {"name": intent, "confidence": confidence}, add_to_output=True)
    message.set("response_selector", {"faq": {"response": {"intent_response_key": key}}},
                add_to_output=True)
    return message


def _component(tmp_path, **config):
    storage, resource = LocalModelStorage(tmp_path), Resource("coverage")
    context = ExecutionContext(GraphSchema({}), "test")
    settings = {**AnswerCoverage.get_default_config(), **config}
    AnswerCoverage.create(settings, storage, resource, context).train(_training_data())
    # Loaded back from the model storage, as the Rasa server runs it.
    return AnswerCoverage.load(settings, storage, resource, context)


def test_a_question_close_to_the_topics_examples_keeps_its_topic(tmp_path):
    [message] = _component(tmp_path).process(
        [_picked("do they test you for drugs there", "faq/drug_testing")])
    assert message.get("intent")["name"] == "faq"
    assert message.get("answer_coverage")["similarity"] >= 0.6


def test_a_question_far_from_the_picked_topics_examples_is_not_covered(tmp_path):
    # The classifiers picked "drug testing" for lack of anything better.
    [message] = _component(tmp_path).process(
        [_picked("do you offer acupuncture", "faq/drug_testing")])
    assert message.get("intent")["name"] == "question_not_covered"
    coverage = message.get("answer_coverage")
    assert coverage["topic"] == "faq/drug_testing" and coverage["similarity"] < 0.6


def test_a_sure_pick_far_from_the_examples_is_kept_unless_an_unanswerable_one_is_as_close(
        tmp_path):
    component = _component(tmp_path, min_similarity=0.95)
    [sure] = component.process([_picked("pee test?", "faq/drug_testing", confidence=0.95)])
    assert sure.get("intent")["name"] == "faq"
    [unsure] = component.process([_picked("pee test?", "faq/drug_testing", confidence=0.5)])
    assert unsure.get("intent")["name"] == "question_not_covered"


def test_a_question_nearer_a_known_unanswerable_one_is_not_covered_however_sure(tmp_path):
    [message] = _component(tmp_path).process(
        [_picked("is there a pool for swimming", "faq/cost", confidence=0.99)])
    assert message.get("intent")["name"] == "question_not_covered"
    coverage = message.get("answer_coverage")
    assert coverage["unanswerable_similarity"] > coverage["similarity"] + 0.1


def _trained_with_insurer_terms(tmp_path, name: str):
    """A model whose cost topic has the insurer names as key terms, and a bar no example
    reaches; what `load` needs to read it back."""
    data = _training_data()
    data.lookup_tables = [{"name": "insurer", "elements": ["bcbs", "aetna"]}]
    storage, resource = LocalModelStorage(tmp_path), Resource(name)
    context = ExecutionContext(GraphSchema({}), "test")
    settings = {**AnswerCoverage.get_default_config(), "min_similarity": 0.99,
                "key_terms": {"faq/cost": "insurer"}}
    AnswerCoverage.create(settings, storage, resource, context).train(data)
    return settings, storage, resource, context


def test_a_key_term_of_the_topic_keeps_it_however_far_the_examples_are(tmp_path):
    settings, storage, resource, context = _trained_with_insurer_terms(tmp_path, "with_terms")
    component = AnswerCoverage.load(settings, storage, resource, context)
    [named] = component.process([_picked("u take bcbs?", "faq/cost")])
    assert named.get("intent")["name"] == "faq"
    [unnamed] = component.process([_picked("u take it?", "faq/cost")])
    assert unnamed.get("intent")["name"] == "question_not_covered"
    # A message the classifiers fell back on, or called not covered, is taken back when it
    # names a key term; without one the fallback stands.
    for guess in ("nlu_fallback", "question_not_covered", "out_of_scope"):
        [rescued] = component.process([_picked("does aetna work for this", "faq/drug_testing",
                                                intent=guess, confidence=0.3)])
        assert rescued.get("intent")["name"] == "faq"
        assert rescued.get("response_selector")["faq"]["response"]["intent_response_key"] == (
            "faq/cost")
    # Placed on a topic whose examples are far from it: moved to the named term's topic.
    [moved] = component.process([_picked("does aetna work for this", "faq/drug_testing")])
    assert moved.get("intent")["name"] == "faq"
    assert moved.get("response_selector")["faq"]["response"]["intent_response_key"] == (
        "faq/cost")
    [unplaced] = component.process([_picked("does it work for this", "faq/cost",
                                             intent="nlu_fallback")])
    assert unplaced.get("intent")["name"] == "nlu_fallback"


def test_other_intents_and_a_threshold_of_zero_are_left_alone(tmp_path):
    [greeting] = _component(tmp_path).process(
        [_picked("do you offer acupuncture", "faq/cost", intent="greet")])
    assert greeting.get("intent")["name"] == "greet"
    [unchecked] = _component(tmp_path, min_similarity=0).process(
        [_picked("do you offer acupuncture", "faq/cost")])
    assert unchecked.get("intent")["name"] == "faq"


def test_without_a_trained_model_every_topic_is_answered(tmp_path):
    storage = LocalModelStorage(tmp_path)
    loaded = AnswerCoverage.load(AnswerCoverage.get_default_config(), storage,
                                 Resource("never_trained"), ExecutionContext(GraphSchema({}), "t"))
    [message] = loaded.process([_picked("do you offer acupuncture", "faq/cost")])
    assert message.get("intent")["name"] == "faq"


# A topic asked about in many different ways: its examples sit far from each other.
SCATTERED_TOPIC = ["do you treat gambling addiction", "what about an eating disorder",
                   "can you help with a porn addiction",
                   "is a shopping addiction something you treat",
                   "my wife bets every paycheck on sports", "do you help with compulsive gaming"]


def test_a_topic_whose_examples_are_far_apart_takes_a_question_as_far_from_them(tmp_path):
    data = TrainingData(_training_data().training_examples + [
        Message.build(text, intent="faq", intent_response_key="faq/other_addictions")
        for text in SCATTERED_TOPIC])
    question = "does the program cover internet addiction"

    def judged(spread_quantile, text=question):
        storage = LocalModelStorage(tmp_path)
        resource = Resource(f"spread_{spread_quantile}_{len(text)}")
        context = ExecutionContext(GraphSchema({}), "test")
        settings = {**AnswerCoverage.get_default_config(), "spread_quantile": spread_quantile,
                    "similarity_floor": 0.45}
        AnswerCoverage.create(settings, storage, resource, context).train(data)
        component = AnswerCoverage.load(settings, storage, resource, context)
        [message] = component.process([_picked(text, "faq/other_addictions")])
        return message

    # One bar for every topic (0.6) turns the question away; this topic's own spread does not.
    assert judged(0).get("intent")["name"] == "question_not_covered"
    spread = judged(0.3)
    assert spread.get("intent")["name"] == "faq"
    assert spread.get("answer_coverage")["similarity"] < 0.6
    # The floor still turns away a question that is about something else.
    assert judged(0.3, "do you offer acupuncture").get("intent")["name"] == (
        "question_not_covered")


def test_a_damaged_spread_file_gives_every_topic_one_bar_rather_than_an_error(tmp_path):
    storage, resource = LocalModelStorage(tmp_path), Resource("damaged_spread")
    context = ExecutionContext(GraphSchema({}), "test")
    settings = {**AnswerCoverage.get_default_config(), "spread_quantile": 0.3}
    AnswerCoverage.create(settings, storage, resource, context).train(_training_data())
    with storage.write_to(resource) as model_dir:
        (model_dir / "topic_spread.json").write_text('["faq/drug_testing", 0.1]')
    component = AnswerCoverage.load(settings, storage, resource, context)
    close, far = component.process([_picked("do they test you for drugs there",
                                            "faq/drug_testing"),
                                    _picked("do you offer acupuncture", "faq/drug_testing")])
    assert close.get("intent")["name"] == "faq"
    assert far.get("intent")["name"] == "question_not_covered"


def test_a_damaged_key_terms_file_loses_only_its_damaged_entries(tmp_path):
    settings, storage, resource, context = _trained_with_insurer_terms(tmp_path, "damaged_terms")
    with storage.write_to(resource) as model_dir:
        # One good entry, one that is not a list of words.
        (model_dir / "topic_key_terms.json").write_text(
            '{"faq/cost": ["bcbs", "aetna"], "faq/drug_testing": 7}')
    component = AnswerCoverage.load(settings, storage, resource, context)
    [named, tested] = component.process([_picked("u take bcbs?", "faq/cost"),
                                         _picked("do you offer acupuncture", "faq/drug_testing")])
    assert named.get("intent")["name"] == "faq"
    assert tested.get("intent")["name"] == "question_not_covered"
    with storage.write_to(resource) as model_dir:
        (model_dir / "topic_key_terms.json").write_text('["bcbs"]')
    component = AnswerCoverage.load(settings, storage, resource, context)
    [unnamed] = component.process([_picked("u take bcbs?", "faq/cost")])
    # No key terms left: the question is judged on its similarity alone, without an error.
    assert unnamed.get("intent")["name"] == "question_not_covered"
