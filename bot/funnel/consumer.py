"""Counts the event stream's funnel records into the leads database.

Run as `python -m bot.funnel.consumer` (the cluster starts one).

One record is acknowledged only once it is committed, so a record in flight when RabbitMQ,
the database or this process goes away is delivered again and counted once (store.py).
- RabbitMQ restarted or unreachable: aio-pika's robust connection reconnects, declares the
  queue again and resumes consuming; the records waited in the durable queue, or in each Rasa
  instance's broker (broker.py) when it could not publish.
- The database unreachable: the record goes back to the queue and the consumer waits a moment
  before taking records again, rather than spinning through them.
- A record that is not what broker.py publishes (a stray publisher, a wrong type) is dropped
  and counted in the log, never retried forever and never logged itself.
GET /health answers 200 while connected to RabbitMQ and consuming the queue, 503 otherwise
(the cluster and the Kubernetes probes use it).
"""
from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys

import aio_pika
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.funnel.steps import valid_record
from bot.funnel.store import record_step
from bot.leads.database import engine_for, ensure_schema
from bot.server_process import prepare_server_process
from bot.settings import Settings, load_settings

logger = logging.getLogger(__name__)

DATABASE_RETRY_SECONDS = 2.0
RECONNECT_SECONDS = 5.0
# Records handled at once: enough to keep up with a burst, few enough that a redelivery after
# a crash repeats little.
PREFETCH = 50
# Health probes answered at once; more are closed unanswered (each waits up to 5 s for its
# request line, so a client opening thousands could otherwise hold that many sockets).
MAX_OPEN_HEALTH_CHECKS = 32
# A record is about 200 bytes; RabbitMQ would deliver one of up to 128 MB.
MAX_RECORD_BYTES = 1024
# The database errors that pass: the record is tried again once the database answers.
DATABASE_AWAY = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)


class FunnelConsumer:
    def __init__(self, settings: Settings) -> None:
        if not settings.rabbitmq_url:
            raise ValueError("RABBITMQ_URL is not set: the funnel consumer reads the event "
                             "stream from RabbitMQ (see .env.example)")
        self.settings = settings
        self.engine = engine_for(settings.database_url)
        self.connection: aio_pika.abc.AbstractRobustConnection | None = None
        self.consuming = False
        self.open_health_checks = 0
        self.counted = 0
        self.repeated = 0
        self.malformed = 0

    @property
    def connected(self) -> bool:
        # `is_closed` stays False while a robust connection is reconnecting; `connected` is
        # cleared the moment the broker goes away and set again once it is back. `consuming`
        # is set only once the queue is declared and a consumer attached to it: connected to
        # RabbitMQ but counting nothing is not healthy.
        return (self.consuming and self.connection is not None
                and not self.connection.is_closed and self.connection.connected.is_set())

    async def connect(self, stop: asyncio.Event) -> None:
        """Until RabbitMQ answers and the queue is consumed; after that the robust connection
        reconnects, declares the queue again and resumes consuming by itself."""
        while not stop.is_set():
            try:
                await self._consume()
                logger.info("Counting funnel records from RabbitMQ")
                return
            except Exception as error:  # unreachable, refused, or a declaration that failed
                logger.warning("RabbitMQ is not reachable or the queue could not be set up "
                               "(%s); trying again in %.0f s", type(error).__name__,
                               RECONNECT_SECONDS)
                await self._close_connection()
                await _wait_or_stop(stop, RECONNECT_SECONDS)

    async def _consume(self) -> None:
        self.connection = await aio_pika.connect_robust(self.settings.rabbitmq_url)
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=PREFETCH)
        # Declared as Rasa's broker declares them (a fanout exchange, a durable queue), so
        # whichever starts first creates them and the other finds them as they are.
        exchange = await channel.declare_exchange(self.settings.funnel_exchange,
                                                  aio_pika.ExchangeType.FANOUT)
        queue = await channel.declare_queue(self.settings.funnel_queue, durable=True)
        await queue.bind(exchange, "")
        await queue.consume(self.handle)
        self.consuming = True

    async def _close_connection(self) -> None:
        # A robust connection left open after a failed set-up would go on reconnecting in
        # the background, one more for each attempt.
        self.consuming = False
        connection, self.connection = self.connection, None
        if connection is not None:
            try:
                await connection.close()
            except Exception as error:
                logger.debug("Closing a half-open RabbitMQ connection: %s", type(error).__name__)

    async def handle(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        record = None
        if len(message.body) <= MAX_RECORD_BYTES:  # a bigger one is not read at all
            try:
                record = json.loads(message.body)
            except (ValueError, RecursionError):
                pass
        if not valid_record(record):
            self.malformed += 1
            logger.warning("A message that is not a funnel record was dropped (%d so far)",
                           self.malformed)
            await message.ack()
            return
        try:
            counted = await asyncio.to_thread(record_step, self.engine, record)
        except DATABASE_AWAY as error:
            logger.warning("The leads database is not reachable (%s); the record goes back "
                           "to the queue", type(error).__name__)
            await asyncio.sleep(DATABASE_RETRY_SECONDS)
            await message.nack(requeue=True)
            return
        except Exception as error:  # a record the database refuses: never retried forever
            # (a DataError or IntegrityError comes back the same however often it is tried)
            self.malformed += 1
            logger.warning("A funnel record could not be stored (%s) and was dropped",
                           type(error).__name__)
            await message.ack()
            return
        await message.ack()
        if counted:
            self.counted += 1
        else:
            self.repeated += 1

    async def health(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.open_health_checks >= MAX_OPEN_HEALTH_CHECKS:
            writer.close()  # a probe needs one connection; many at once is not a probe
            return
        self.open_health_checks += 1
        try:
            request_line = await asyncio.wait_for(reader.readline(), 5)
            ok = request_line.startswith(b"GET /health ") and self.connected
            body = b'{"status": "ok"}' if ok else b'{"status": "unavailable"}'
            status = b"200 OK" if ok else b"503 Service Unavailable"
            writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
                         b"Content-Length: " + str(len(body)).encode()
                         + b"\r\nConnection: close\r\n\r\n" + body)
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            self.open_health_checks -= 1
            writer.close()

    async def run(self, stop: asyncio.Event) -> None:
        server = await asyncio.start_server(self.health, self.settings.funnel_health_host,
                                            self.settings.funnel_health_port)
        if await self._schema_when_reachable(stop):
            connecting = asyncio.create_task(self.connect(stop))
            await stop.wait()
            connecting.cancel()
        server.close()
        await self._close_connection()
        self.engine.dispose()
        logger.info("Stopped: %d steps counted, %d repeats ignored, %d malformed dropped",
                    self.counted, self.repeated, self.malformed)

    async def _schema_when_reachable(self, stop: asyncio.Event) -> bool:
        """False if told to stop before the database answered (a SIGTERM is not held up by
        a database that is down)."""
        while not stop.is_set():
            try:
                await asyncio.to_thread(ensure_schema, self.engine)
                return True
            except SQLAlchemyError as error:
                logger.warning("The leads database is not reachable (%s); trying again",
                               type(error).__name__)
                await _wait_or_stop(stop, RECONNECT_SECONDS)
        return False


async def _wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except asyncio.TimeoutError:
        pass


def main() -> int:
    prepare_server_process()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s  "
                        "%(message)s")
    settings = load_settings()
    try:
        consumer = FunnelConsumer(settings)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await consumer.run(stop)

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
