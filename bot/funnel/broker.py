"""Rasa's Pika event broker, publishing only funnel records (bot/funnel/steps.py).

Configured in endpoints-cluster.yml:
    event_broker:
      type: bot.funnel.broker.FunnelEventBroker
      url: 127.0.0.1
      port: 5672
      username: guest
      password: guest
      queues: [funnel]

What Rasa's PikaEventBroker does as it stands, and what this one changes:
- it publishes every event whole, with the person's messages and the bot's replies; here each
  event is reduced to a funnel record (no text, a keyed digest for the conversation) or not
  published at all, so substance-use conversations never sit in a queue;
- it connects once at start-up and Rasa refuses to start if RabbitMQ is down; here the
  connection is made in the background, retried until it succeeds, and conversations go on
  meanwhile;
- it drops events published before the connection is up, and sends the ones kept after a
  failure only when aio-pika reports a reconnect (if that first send fails too they wait for
  the next reconnect); here kept records are sent as soon as any publish succeeds again, a
  batch at a time, and at most MAX_KEPT are held, the oldest dropped first, so a long outage
  cannot eat memory. They live in this process only: a process stopped while RabbitMQ is
  still away loses them, and says how many in its log.
Publishing is never awaited by a turn: a broker that is down or slow never delays a reply.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from rasa.core.brokers.pika import PikaEventBroker

from bot.funnel.steps import funnel_record
from bot.local_secrets import conversation_id_secret
from bot.settings import load_settings

if TYPE_CHECKING:
    from asyncio import AbstractEventLoop

    from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

# About 200 bytes each: 20 MB at most, a day of a busy helpline's funnel steps.
MAX_KEPT = 100_000
PUBLISH_TIMEOUT_SECONDS = 10.0
FLUSH_BATCH = 100
CLOSE_WAIT_SECONDS = 5.0


class FunnelEventBroker(PikaEventBroker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unpublished_events = deque(maxlen=MAX_KEPT)
        self._secret = conversation_id_secret(load_settings())
        self._connecting: asyncio.Task | None = None
        self._flushing: asyncio.Task | None = None
        self.dropped = 0

    @classmethod
    async def from_endpoint_config(cls, broker_config: EndpointConfig | None,
                                   event_loop: AbstractEventLoop | None = None,
                                   ) -> FunnelEventBroker | None:
        if broker_config is None:
            return None
        broker = cls(broker_config.url, **{"connection_attempts": 1, **broker_config.kwargs},
                     event_loop=event_loop)
        broker._connecting = broker._loop.create_task(broker._connect_until_up())
        return broker

    async def _connect_until_up(self) -> None:
        while True:
            try:
                await self.connect()
            except Exception as error:  # anything aio-pika raises while RabbitMQ is away
                logger.warning("RabbitMQ is not reachable (%s); funnel records are kept "
                               "(%d waiting) and the connection is retried",
                               type(error).__name__, len(self._unpublished_events))
                await self._forget_connection()
                await asyncio.sleep(self._retry_delay_in_seconds)
                continue
            logger.info("RabbitMQ connected; sending %d kept funnel records",
                        len(self._unpublished_events))
            self._publish_unpublished_messages()
            return

    async def _forget_connection(self) -> None:
        # A connection that opened before the exchange failed to declare would go on
        # reconnecting in the background, one more for each attempt.
        connection, self._connection, self._exchange = self._connection, None, None
        if connection is not None:
            try:
                await connection.close()
            except Exception as error:
                logger.debug("Closing a half-open RabbitMQ connection: %s", type(error).__name__)

    def publish(self, event: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        # Called inside the turn's tracker save: nothing here may fail the turn.
        try:
            record = funnel_record(event, self._secret)
        except Exception as error:
            logger.warning("An event could not be reduced to a funnel record (%s)",
                           type(error).__name__)
            return
        if record is not None:
            task = self._loop.create_task(self._publish(record))
            self._background_tasks.add(task)
            task.add_done_callback(self._background_tasks.discard)

    async def _publish(self, event: dict[str, Any],
                       headers: dict[str, str] | None = None) -> None:
        if await self._publish_one(event):
            self._publish_unpublished_messages()

    async def _publish_one(self, record: dict[str, Any]) -> bool:
        """True once RabbitMQ has the record; else it is kept to send later."""
        if self._exchange is None:
            self._keep(record)
            return False
        try:
            # With publisher confirms (aio-pika's default), this returns once RabbitMQ has
            # the record on disk, in a durable queue.
            await asyncio.wait_for(self._exchange.publish(self._message(record, None), ""),
                                   PUBLISH_TIMEOUT_SECONDS)
        except Exception as error:
            self._keep(record)
            logger.warning("A funnel record was not published (%s); %d are kept to send later",
                           type(error).__name__, len(self._unpublished_events))
            return False
        return True

    def _keep(self, record: dict[str, Any]) -> None:
        if len(self._unpublished_events) == self._unpublished_events.maxlen:
            self.dropped += 1
            if self.dropped % 1000 == 1:
                logger.error("RabbitMQ has been away long enough that %d funnel records were "
                             "dropped (the oldest first)", self.dropped)
        self._unpublished_events.append(record)

    def _publish_unpublished_messages(self, *_: Any, **__: Any) -> None:
        # Also aio-pika's reconnect callback. One flush at a time, however many publishes
        # succeed meanwhile.
        if self._unpublished_events and (self._flushing is None or self._flushing.done()):
            self._flushing = self._loop.create_task(self._flush())

    async def _flush(self) -> None:
        """Sends the kept records a batch at a time (after a long outage there may be 100,000:
        one task each would flood the event loop the turns run on), stopping at the first
        batch RabbitMQ does not take; what it did not take is kept again."""
        while self._unpublished_events and self._exchange is not None:
            batch = [self._unpublished_events.popleft()
                     for _ in range(min(FLUSH_BATCH, len(self._unpublished_events)))]
            sent = await asyncio.gather(*(self._publish_one(record) for record in batch))
            if not all(sent):
                return

    async def close(self) -> None:
        """Gives what is kept a few seconds to go out (a pod stopping while RabbitMQ is
        back), then says how many records are lost with this process."""
        if self._connecting is not None:
            self._connecting.cancel()
        pending = [task for task in (*self._background_tasks, self._flushing)
                   if task is not None and not task.done()]
        if pending:
            await asyncio.wait(pending, timeout=CLOSE_WAIT_SECONDS)
        if self._unpublished_events and self._exchange is not None:
            try:
                await asyncio.wait_for(self._flush(), CLOSE_WAIT_SECONDS)
            except asyncio.TimeoutError:
                pass
        if self._unpublished_events:
            logger.error("Stopping with %d funnel records RabbitMQ never took; they are lost "
                         "(the console's step counts will be short by them)",
                         len(self._unpublished_events))
        await super().close()
