"""The funnel broker's keeping and sending, against a stand-in for RabbitMQ's exchange (the
real RabbitMQ, cut and restored, is in tests/test_funnel_stream.py)."""
from __future__ import annotations

import asyncio
import logging
import os
from unittest import mock

import pytest

from bot.funnel.broker import FLUSH_BATCH, FunnelEventBroker


class StandInExchange:
    """Takes what is published, one event-loop turn later, and counts how many at once."""

    def __init__(self, *, refuse: bool = False) -> None:
        self.refuse = refuse
        self.received: list[bytes] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def publish(self, message, routing_key) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)
            if self.refuse:
                raise ConnectionError("RabbitMQ went away")
            self.received.append(message.body)
        finally:
            self.in_flight -= 1


def crisis_event(n: int) -> dict:
    return {"event": "action", "name": "utter_crisis", "sender_id": f"conversation-{n}",
            "timestamp": 1796550000.0}


async def broker_without_rabbitmq(tmp_path) -> FunnelEventBroker:
    with mock.patch.dict(os.environ, {"VAR_DIR": str(tmp_path / "var")}):
        return FunnelEventBroker("127.0.0.1", username="guest", password="guest",
                                 queues=["funnel"], event_loop=asyncio.get_running_loop())


async def settle() -> None:
    for _ in range(200):
        await asyncio.sleep(0)


def test_after_a_long_outage_the_kept_records_go_out_a_batch_at_a_time(tmp_path):
    async def scenario() -> tuple[StandInExchange, FunnelEventBroker]:
        broker = await broker_without_rabbitmq(tmp_path)
        for n in range(5000):
            broker.publish(crisis_event(n))
        await settle()
        assert len(broker._unpublished_events) == 5000
        broker._exchange = exchange = StandInExchange()
        broker._publish_unpublished_messages()  # as aio-pika's reconnect callback does
        await asyncio.wait_for(broker._flushing, 30)
        return exchange, broker

    exchange, broker = asyncio.run(scenario())
    assert len(exchange.received) == 5000 and not broker._unpublished_events
    assert exchange.most_in_flight <= FLUSH_BATCH


def test_a_flush_that_fails_keeps_everything_it_did_not_send(tmp_path):
    async def scenario() -> FunnelEventBroker:
        broker = await broker_without_rabbitmq(tmp_path)
        for n in range(450):
            broker.publish(crisis_event(n))
        await settle()
        broker._exchange = StandInExchange(refuse=True)
        broker._publish_unpublished_messages()
        await asyncio.wait_for(broker._flushing, 30)
        return broker

    assert len(asyncio.run(scenario())._unpublished_events) == 450


@pytest.mark.parametrize("rabbitmq_back", [True, False])
def test_stopping_sends_what_is_kept_or_says_how_many_are_lost(tmp_path, caplog, rabbitmq_back):
    async def scenario() -> StandInExchange:
        broker = await broker_without_rabbitmq(tmp_path)
        for n in range(30):
            broker.publish(crisis_event(n))
        await settle()
        exchange = StandInExchange()
        if rabbitmq_back:  # it answered again just before the pod was told to stop
            broker._exchange = exchange
        await broker.close()
        return exchange

    with caplog.at_level(logging.ERROR, logger="bot.funnel.broker"):
        exchange = asyncio.run(scenario())
    if rabbitmq_back:
        assert len(exchange.received) == 30
        assert "lost" not in caplog.text
    else:
        assert "Stopping with 30 funnel records RabbitMQ never took" in caplog.text
