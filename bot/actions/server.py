"""The action server process: rasa_sdk's app, closed to everyone but our own Rasa server.

`python -m rasa_sdk` answers anyone on every interface: a forged tracker posted to /webhook
would write a lead, open a handoff and text staff, or read back the phone number behind an
SMS conversation. Here, before any action runs:
- the request must carry the shared secret Rasa sends (endpoints.yml, Authorization header);
- compressed bodies are refused (rasa_sdk inflates `deflate` without limit) and bodies are
  capped in size;
- an action that raises is answered with a bare error, never with the request body (rasa_sdk
  echoes the whole tracker, which Rasa then writes to its log);
and the server listens on loopback unless ACTIONS_HOST says otherwise.

It also runs without TensorFlow. The pre-screen's extraction is a spaCy EntityRuler, and
`import spacy` loads TensorFlow through thinc's optional shims only because it is installed
for Rasa: 700 MB of peak memory per action server for nothing it uses (`make bench`).
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import os
import sys
from typing import TYPE_CHECKING

from bot.local_secrets import action_server_token
from bot.server_process import prepare_server_process
from bot.settings import Settings, load_settings

if TYPE_CHECKING:
    from sanic import Sanic

logger = logging.getLogger(__name__)

ACTIONS_PACKAGE = "bot.actions"
# A tracker of a long conversation is a few hundred KB; nothing else is ever posted here.
MAX_BODY_BYTES = 4 * 1024 * 1024
OPEN_PATHS = ("/health",)


def action_server_app(settings: Settings) -> Sanic:
    # Imported here, not at the top: the process must be prepared before Sanic and spaCy
    # load (see main).
    from rasa_sdk.endpoint import create_app
    from sanic import response
    from sanic.request import Request
    from sanic.response import HTTPResponse

    app = create_app(ACTIONS_PACKAGE, cors_origins=None)
    app.config.REQUEST_MAX_SIZE = MAX_BODY_BYTES
    expected = f"Bearer {action_server_token(settings)}".encode()

    @app.on_request
    async def only_our_rasa_server(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS:
            return None
        provided = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(provided, expected):
            logger.warning("action server: refused a request without the shared secret")
            return response.json({"error": "unauthorized"}, status=401)
        if request.headers.get("Content-Encoding", "identity").lower() != "identity":
            return response.json({"error": "compressed bodies are not accepted"}, status=415)
        return None

    async def action_failed(request: Request, exception: Exception) -> HTTPResponse:
        status = getattr(exception, "status_code", 500)
        if status >= 500:
            # The type only: an exception's message may quote a name or a number.
            logger.error("action server: an action failed (%s)", type(exception).__name__)
        return response.json({"error": "the action failed" if status >= 500 else "bad request"},
                             status=status)

    # Replaces rasa_sdk's handler, which returns (and so makes Rasa log) the request body.
    app.error_handler.add(Exception, action_failed)

    @app.after_server_start
    async def start_spool_retries(running_app: Sanic, _loop: object) -> None:
        running_app.ctx.spool_retries = asyncio.get_running_loop().create_task(
            retry_spool_forever(settings))

    @app.before_server_stop
    async def finish_background_work(running_app: Sanic, _loop: object) -> None:
        # The timer stops (a spooled lead stays in the spool for the next start, or for a
        # peer); staff texts still being sent are waited for, not dropped with the loop.
        from bot.background import settle_before_stopping
        from bot.handoff import service

        retries = getattr(running_app.ctx, "spool_retries", None)
        if retries is not None:
            retries.cancel()
            await asyncio.gather(retries, return_exceptions=True)
        await settle_before_stopping(service.notifications_settled)

    return app


async def retry_spool_forever(settings: Settings) -> None:
    """Leads spooled while the database was down are written once it answers again, by the
    action server that spooled them or, in a cluster, any other (LEAD_SPOOL_PEERS), whether
    or not another lead comes along."""
    from bot.handoff import service

    while True:
        await asyncio.sleep(settings.spool_retry_seconds)
        try:
            written = await service.land_spooled()
        except Exception as error:  # the timer must outlive any failure, or nothing drains
            logger.error("lead spool: retry failed (%s)", type(error).__name__)
            continue
        if written:
            logger.info("lead spool: %d waiting submission(s) written", len(written))


def keep_tensorflow_out() -> None:
    """Makes `import tensorflow` fail in this process, before anything imports spaCy.

    thinc, under spaCy, imports TensorFlow when it can and carries on without it when the
    import fails, as it does wherever TensorFlow is not installed. A `None` entry in
    `sys.modules` is Python's own way to make an import fail. Nothing the actions run needs
    TensorFlow: the EntityRuler is spaCy's rule matcher.
    """
    if "thinc" in sys.modules or "spacy" in sys.modules:
        raise RuntimeError("keep_tensorflow_out() must run before spaCy is imported")
    sys.modules.setdefault("tensorflow", None)  # type: ignore[arg-type]


def main() -> None:
    keep_tensorflow_out()
    prepare_server_process()
    from rasa_sdk import utils as sdk_utils

    sdk_utils.configure_colored_logging(os.environ.get("LOG_LEVEL", "INFO"))
    sdk_utils.update_sanic_log_level()
    settings = load_settings()
    app = action_server_app(settings)
    logger.info("action server listening on %s:%d", settings.actions_host, settings.actions_port)
    app.run(host=settings.actions_host, port=settings.actions_port, workers=1, access_log=False)


if __name__ == "__main__":
    main()
