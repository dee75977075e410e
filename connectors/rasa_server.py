"""The Rasa server process as we run it: private files and PHI-free logs, then `rasa run`.

Both must be in place before Rasa writes its first file or log line, so they are set here,
in the process itself, rather than by whoever starts it (bot/server_process.py).
Arguments are `rasa`'s own: `python -m connectors.rasa_server run --model ...`; `run` gets
the HTTP API's token from RASA_API_TOKEN or its file (VAR_DIR) unless one is given.
"""
from __future__ import annotations

import sys
from typing import Any

from bot.server_process import prepare_server_process


def check_action_replies_with_one_validator() -> None:
    """Rasa checks every action server reply with `jsonschema.validate`, which first checks the
    schema itself against the JSON Schema meta-schema: in the end-to-end tests that was over
    half the Rasa process's CPU, on every form step. The schema never changes, so it is
    checked once and its validator kept; replies are judged exactly as before.
    """
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    original = RemoteAction._validate_action_result

    def validate_action_result(self: RemoteAction, result: dict) -> bool:
        if validator.is_valid(result):
            return True
        # Invalid replies are rare: Rasa's own path builds its error message.
        return original(self, result)

    RemoteAction._validate_action_result = validate_action_result


def find_event_classes_by_name_once() -> None:
    """Rasa finds the class of every stored event it decodes by walking all of Event's
    subclasses and asking `inspect.isabstract` of each: in the soak that was 5% of a Rasa
    instance's event loop, as each turn decodes the conversation so far. The classes are
    looked up once and kept; a name not found (a class imported later) is looked up again
    Rasa's way, so every name resolves exactly as before.
    """
    from rasa.shared.core.events import Event

    rasas_resolve_by_type = Event.resolve_by_type
    by_name: dict = {}

    def resolve_by_type(type_name: str, default: Any = None) -> Any:
        found = by_name.get(type_name)
        if found is None:
            found = rasas_resolve_by_type(type_name, default)
            if found is not None and found is not default:
                by_name[type_name] = found
        return found

    Event.resolve_by_type = staticmethod(resolve_by_type)


class ConversationStoreUnavailable(RuntimeError):
    """The conversation database could not be read or written: this turn fails as a whole."""


def fail_the_turn_when_conversations_cannot_be_stored() -> None:
    """Rasa wraps every tracker store in its FailSafeTrackerStore, which hides a database
    that is down. When a conversation cannot be read it starts afresh: a parent halfway
    through the pre-screen is greeted as a stranger, and the answers given are gone. When
    one cannot be written it is kept in this process's memory only, where the other
    instances never see it and a restart loses it. It also logs the database's error, which
    can quote the statement's values.

    Here either failure fails the turn instead. The channel gives its "something went wrong,
    please try again" reply, and the conversation is exactly as it was once the database
    answers again (tests/test_stack_cluster.py cuts PostgreSQL for 30 s).
    """
    import logging

    from rasa.core.tracker_store import FailSafeTrackerStore

    logger = logging.getLogger(__name__)

    def fail_the_turn(_store: FailSafeTrackerStore, error: Exception) -> None:
        logger.error("conversation store unavailable (%s): the turn fails",
                     type(error).__name__)
        raise ConversationStoreUnavailable(type(error).__name__) from error

    FailSafeTrackerStore.on_tracker_store_error = fail_the_turn
    FailSafeTrackerStore.on_tracker_store_retrieve_error = fail_the_turn

    # After an outage every pooled connection is dead, and the first turn to use one would
    # fail too: each connection is checked (one round trip) before a turn uses it.
    from rasa.core import tracker_store

    rasa_engine_kwargs = tracker_store.create_engine_kwargs

    def engine_kwargs_with_pre_ping(url: Any) -> dict[str, Any]:
        return {**rasa_engine_kwargs(url), "pool_pre_ping": True}

    tracker_store.create_engine_kwargs = engine_kwargs_with_pre_ping


def refuse_dot_segments_and_empty_segments() -> None:
    """A path like /conversations/../webhooks/x/tracker passes a proxy that normalises paths
    before matching its allow-list (nginx does, then forwards the path as sent), and Sanic
    routes it to Rasa's conversation API. No path of ours has a "." or ".." segment, even
    percent-encoded, or an empty one inside it: such a request is refused before routing,
    whichever proxy is in front."""
    from rasa.core import run
    from sanic import response as sanic_response

    from connectors.limits import is_ambiguous_path

    rasas_configure_app = run.configure_app

    async def refuse_ambiguous_paths(request: Any) -> Any:
        if is_ambiguous_path(request.path):
            return sanic_response.text("Not found", status=404)
        return None

    def configure_app(*args: Any, **kwargs: Any) -> Any:
        app = rasas_configure_app(*args, **kwargs)
        app.register_middleware(refuse_ambiguous_paths, "request")
        return app

    run.configure_app = configure_app


def load_models_for_inference_only() -> None:
    """Rasa loads DIET and the ResponseSelector by training them on one example (to build
    their weights), then loading the trained weights over them. That one step creates Adam's
    two slots for every weight and traces the whole training graph: 700 MB that a server,
    which only ever predicts, never uses again (its peak went from 2,059 MB to 1,355 MB).

    Here the weights are built by predicting on the example instead, the trained ones loaded
    over them (the checkpoint's optimizer slots are left unread), and the label embeddings
    Rasa caches for prediction computed again from the loaded weights: the first prediction
    ran on the untrained ones and cached those. Predictions are the same as with Rasa's own
    loading (tests/test_inference_loading.py). Fine-tuning still goes through Rasa's path.
    """
    import tensorflow as tf
    from rasa.utils.tensorflow.constants import LEARNING_RATE, RUN_EAGERLY
    from rasa.utils.tensorflow.models import RasaModel

    rasas_load = RasaModel.load.__func__

    def load(cls: type[RasaModel], model_file_name: str, model_data_example: Any,
             predict_data_example: Any = None, finetune_mode: bool = False, *args: Any,
             **kwargs: Any) -> RasaModel:
        if finetune_mode or predict_data_example is None:
            return rasas_load(cls, model_file_name, model_data_example, predict_data_example,
                              finetune_mode, *args, **kwargs)
        model = cls(*args, **kwargs)
        config = kwargs.get("config", {})
        # Compiled as Rasa compiles it; Adam makes no slots until it applies a gradient.
        model.compile(optimizer=tf.keras.optimizers.Adam(config.get(LEARNING_RATE, 0.001)),
                      run_eagerly=config.get(RUN_EAGERLY))
        model.run_inference(predict_data_example)
        loaded = model.load_weights(model_file_name)
        # Every weight the model has must come from the file; only the optimizer's are left.
        loaded.assert_existing_objects_matched()
        loaded.expect_partial()
        model.prepare_for_predict()
        # The traced prediction holds the old label embeddings as constants: traced again.
        model._tf_predict_step = None
        model.run_inference(predict_data_example)
        return model

    RasaModel.load = classmethod(load)


def _listen_on_rasas_app(listener: Any, event: str) -> None:
    """Adds a Sanic listener to the app `rasa run` builds."""
    from rasa.core import run

    rasas_configure_app = run.configure_app

    def configure_app(*args: Any, **kwargs: Any) -> Any:
        app = rasas_configure_app(*args, **kwargs)
        app.register_listener(listener, event)
        return app

    run.configure_app = configure_app


def finish_background_work_on_stop() -> None:
    """Handoffs moving up and staff texts still being sent are finished before Rasa stops."""
    async def wait_for_background_work(_app: Any, _loop: Any) -> None:
        from bot.background import settle_before_stopping
        from bot.handoff import service
        from connectors import safety

        await settle_before_stopping(safety.handoff_raises_settled,
                                     service.notifications_settled)

    _listen_on_rasas_app(wait_for_background_work, "before_server_stop")


def keep_the_model_out_of_garbage_collection() -> None:
    """Once the model is loaded, everything allocated so far (TensorFlow, the pipeline, the
    domain: millions of objects that live as long as the process) is set aside from
    Python's garbage collector. Otherwise each full collection walks all of them while the
    event loop waits: in the soak a Rasa instance stopped for 300-500 ms about every 10 s,
    for every conversation it was serving. Objects made later are collected as before.
    """
    import gc

    async def freeze_what_is_loaded(_app: Any, _loop: Any) -> None:
        gc.collect()
        gc.freeze()

    # After the model: Rasa loads it in a before_server_start listener.
    _listen_on_rasas_app(freeze_what_is_loaded, "after_server_start")


def main() -> None:
    prepare_server_process()
    check_action_replies_with_one_validator()
    find_event_classes_by_name_once()
    fail_the_turn_when_conversations_cannot_be_stored()
    from rasa.__main__ import main as rasa_main

    arguments = sys.argv[1:]
    if arguments[:1] == ["run"]:
        load_models_for_inference_only()
        refuse_dot_segments_and_empty_segments()
        finish_background_work_on_stop()
        keep_the_model_out_of_garbage_collection()
    if arguments[:1] == ["run"] and "--auth-token" not in arguments:
        # The HTTP API's token, from its owner-only file: given here, inside the process, it
        # never appears on a command line that any user of the machine can list.
        from bot.local_secrets import rasa_api_token
        from bot.settings import load_settings

        arguments += ["--auth-token", rasa_api_token(load_settings())]
    sys.argv = ["rasa", *arguments]
    rasa_main()


if __name__ == "__main__":
    main()
