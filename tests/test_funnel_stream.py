"""The event stream on the machine's RabbitMQ: Rasa's broker (ours) publishing funnel records,
the consumer counting them, and both through RabbitMQ going away and coming back.

RabbitMQ is reached through a proxy the test cuts: to both clients that is a broker restart
(every connection dropped, new ones refused) without touching the machine's server. Each test
has an exchange and a queue of its own, deleted afterwards.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from unittest import mock

import aio_pika
import pytest
from rasa.utils.endpoints import EndpointConfig
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.funnel.broker import FunnelEventBroker
from bot.leads.database import engine_for
from bot.leads.schema import FunnelStep
from bot.settings import PROJECT_ROOT
from scripts.stack import free_port
from tests.stack_helpers import (
    RABBITMQ_URL,
    WAIT_S,
    CuttableProxy,
    delete_exchange_and_queue,
    http_status,
    rabbitmq_or_skip,
    wait_for,
)


@pytest.fixture
def stream(tmp_path):
    rabbitmq_or_skip()
    proxy = CuttableProxy("127.0.0.1", 5672)
    name = f"test-funnel-{uuid.uuid4().hex[:10]}"
    world = {"proxy": proxy, "exchange": name, "queue": name, "tmp": tmp_path,
             "database_url": f"sqlite:///{tmp_path / 'leads.db'}",
             "health": f"http://127.0.0.1:{free_port()}/health", "consumer": None}
    world["env"] = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "VAR_DIR": str(tmp_path / "var"),
                    "DATABASE_URL": world["database_url"],
                    "RABBITMQ_URL": f"amqp://guest:guest@127.0.0.1:{proxy.port}/",
                    "FUNNEL_EXCHANGE": name, "FUNNEL_QUEUE": name,
                    "FUNNEL_HEALTH_PORT": world["health"].rsplit(":", 1)[1].split("/")[0]}
    yield world
    if world["consumer"] is not None:
        world["consumer"].terminate()
        world["consumer"].wait(timeout=20)
        world["consumer_log"].close()
    proxy.close()
    asyncio.run(delete_exchange_and_queue(name))


def start_consumer(world) -> None:
    world["consumer_log"] = open(world["tmp"] / "consumer.log", "wb")
    world["consumer"] = subprocess.Popen([sys.executable, "-m", "bot.funnel.consumer"],
                                         env=world["env"], cwd=PROJECT_ROOT,
                                         stdout=world["consumer_log"], stderr=subprocess.STDOUT)


def counted(world) -> list[tuple[str, str, str | None]]:
    engine = engine_for(world["database_url"])
    try:
        with Session(engine, future=True) as session:
            return sorted(session.execute(select(FunnelStep.conversation_key, FunnelStep.step,
                                                 FunnelStep.channel)).all())
    except Exception:  # the consumer has not created the table yet
        return []


def broker_config(world) -> EndpointConfig:
    return EndpointConfig(url="127.0.0.1", port=world["proxy"].port, username="guest",
                          password="guest", exchange_name=world["exchange"],
                          queues=[world["queue"]], retry_delay_in_seconds=0.5)


def conversation_events(sender: str) -> list[dict]:
    now = time.time()
    return [
        {"sender_id": sender, "event": "user", "timestamp": now, "input_channel": "website",
         "text": "my son Marco drinks every day, call me at 312-555-0142"},
        {"sender_id": sender, "event": "bot", "timestamp": now, "text": "I'm sorry to hear"},
        {"sender_id": sender, "event": "slot", "timestamp": now, "name": "ps_first_name",
         "value": "Marco"},
        {"sender_id": sender, "event": "active_loop", "timestamp": now,
         "name": "prescreen_form"},
        {"sender_id": sender, "event": "action", "timestamp": now, "name": "utter_crisis"},
    ]


async def publish_all(world, events: list[dict], *, settle_s: float = 1.0,
                      before_close=None) -> FunnelEventBroker:
    with mock.patch.dict(os.environ, {"VAR_DIR": world["env"]["VAR_DIR"]}):
        broker = await FunnelEventBroker.from_endpoint_config(broker_config(world))
    for streamed in events:
        broker.publish(streamed)
    await asyncio.sleep(settle_s)
    if before_close is not None:
        await before_close(broker)
    await broker.close()
    return broker


async def peek_everything_published(world, events: list[dict]) -> list[bytes]:
    """Every message that reaches the exchange, through a queue of the test's own."""
    connection = await aio_pika.connect_robust(RABBITMQ_URL)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(world["exchange"],
                                                  aio_pika.ExchangeType.FANOUT)
        spy = await channel.declare_queue(exclusive=True)
        await spy.bind(exchange, "")
        await publish_all(world, events)
        seen = []
        while (message := await spy.get(fail=False, timeout=5)) is not None:
            seen.append(message.body)
            await message.ack()
        return seen


def test_the_stream_carries_funnel_steps_only_and_each_is_counted_once(stream):
    start_consumer(stream)
    wait_for(lambda: http_status(stream["health"]) == 200, "the consumer connected")
    seen = asyncio.run(peek_everything_published(
        stream, conversation_events("conversation-1") + conversation_events("conversation-1")))
    published = b"\n".join(seen)
    assert len(seen) == 6  # user, active_loop, crisis; twice
    for private in (b"Marco", b"312", b"0142", b"drinks", b"sorry", b"conversation-1"):
        assert private not in published
    rows = wait_for(lambda: len(counted(stream)) == 3 and counted(stream), "3 steps counted")
    assert sorted((step, channel or "") for _, step, channel in rows) == [
        ("conversation", "website"), ("crisis", ""), ("prescreen_started", "")]
    assert len({key for key, _, _ in rows}) == 1


def test_a_broker_restart_loses_no_record_and_the_consumer_carries_on(stream):
    start_consumer(stream)
    wait_for(lambda: http_status(stream["health"]) == 200, "the consumer connected")
    first = conversation_events("before-the-restart")

    async def restart_then_publish_more(broker: FunnelEventBroker) -> None:
        stream["proxy"].cut()  # RabbitMQ "restarts": every connection drops
        await asyncio.sleep(1)
        for streamed in conversation_events("during-the-restart"):
            broker.publish(streamed)
        await asyncio.sleep(3)
        assert http_status(stream["health"]) == 503
        assert len(broker._unpublished_events) == 3  # kept, not dropped
        stream["proxy"].restore()
        deadline = time.monotonic() + WAIT_S
        while broker._unpublished_events and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            broker.publish(first[0])  # a later publish sends what was kept
        assert not broker._unpublished_events

    asyncio.run(publish_all(stream, first, before_close=restart_then_publish_more))
    wait_for(lambda: len(counted(stream)) == 6, "all 6 steps of 2 conversations counted")
    wait_for(lambda: http_status(stream["health"]) == 200, "the consumer reconnected")
    # And the consumer still takes new records after the restart.
    asyncio.run(publish_all(stream, conversation_events("after-the-restart")))
    wait_for(lambda: len(counted(stream)) == 9, "the third conversation counted")


def test_rabbitmq_down_when_rasa_starts_keeps_records_until_it_answers(stream):
    stream["proxy"].cut()
    start_consumer(stream)

    async def come_back(broker: FunnelEventBroker) -> None:
        assert len(broker._unpublished_events) == 3
        stream["proxy"].restore()
        deadline = time.monotonic() + WAIT_S
        while broker._unpublished_events and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
        await asyncio.sleep(1)

    asyncio.run(publish_all(stream, conversation_events("while-down"), settle_s=2,
                            before_close=come_back))
    wait_for(lambda: len(counted(stream)) == 3, "the kept records counted")


def test_a_message_that_is_not_a_record_is_dropped_and_counting_goes_on(stream):
    start_consumer(stream)
    wait_for(lambda: http_status(stream["health"]) == 200, "the consumer connected")

    async def publish_junk() -> None:
        connection = await aio_pika.connect_robust(RABBITMQ_URL)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(stream["exchange"],
                                                      aio_pika.ExchangeType.FANOUT)
            for body in (b"not json", b"[1, 2]", json.dumps({"step": "crisis"}).encode(),
                         json.dumps({"conversation": "x" * 64, "step": "crisis",
                                     "text": "I want to die"}).encode(),
                         # A record in shape, padded to 2 MB: nothing the broker sends is
                         # that big, and a few of them would fill the consumer's memory.
                         json.dumps({"conversation": "y" * 64, "step": "crisis"}).encode()
                         + b" " * 2_000_000):
                await exchange.publish(aio_pika.Message(body), "")

    asyncio.run(publish_junk())
    asyncio.run(publish_all(stream, conversation_events("after-junk")))
    wait_for(lambda: len(counted(stream)) >= 3, "the real records counted")
    time.sleep(1)
    assert len(counted(stream)) == 3  # none of the junk, not even the one with a text field
    assert "not a funnel record was dropped (5 so far)" in (
        stream["tmp"] / "consumer.log").read_text()
    assert "I want to die" not in (stream["tmp"] / "consumer.log").read_text()
    assert http_status(stream["health"]) == 200


def test_a_queue_that_cannot_be_set_up_is_unhealthy_and_retried_until_it_can(stream):
    # The queue exists with other settings (not durable), so the consumer's declaration is
    # refused while RabbitMQ itself answers: connected, but counting nothing.
    async def declare_a_conflicting_queue() -> None:
        connection = await aio_pika.connect_robust(RABBITMQ_URL)
        async with connection:
            channel = await connection.channel()
            await channel.declare_queue(stream["queue"], durable=False)

    asyncio.run(declare_a_conflicting_queue())
    start_consumer(stream)
    wait_for(lambda: "the queue could not be set up" in (
        stream["tmp"] / "consumer.log").read_text(), "the refused declaration logged")
    assert http_status(stream["health"]) == 503
    asyncio.run(delete_exchange_and_queue(stream["queue"]))
    wait_for(lambda: http_status(stream["health"]) == 200, "the consumer set up the queue")
    asyncio.run(publish_all(stream, conversation_events("after-the-fix")))
    wait_for(lambda: len(counted(stream)) == 3, "the steps counted")


def test_the_consumer_stops_on_sigterm_while_the_database_is_down(stream):
    stream["env"]["DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    start_consumer(stream)
    wait_for(lambda: "leads database is not reachable" in (
        stream["tmp"] / "consumer.log").read_text(), "the consumer waiting for the database")
    stream["consumer"].terminate()
    assert stream["consumer"].wait(timeout=10) == 0
