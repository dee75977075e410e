"""Live chat messages between Rasa instances ride Redis pub/sub (connectors/website_chat.py).
A counselor's reply published while an instance is not listening never reaches the visitor
whose widget is on it, so the listener must stay subscribed through quiet spells longer than
its Redis timeout, the usual state of a helpline at night."""
from __future__ import annotations

import asyncio
import logging
import uuid

from redis.asyncio import Redis

from connectors.website_chat import REDIS_TIMEOUT_S, CrossInstanceManager
from tests.test_conversation_lock import REDIS_URL, redis_or_skip

PUBLISH_EVERY_S = 0.2


async def publish_through_a_quiet_spell(channel: str) -> tuple[list[int], list[bytes], list]:
    manager = CrossInstanceManager(REDIS_URL)
    manager.channel = channel  # not the cluster's own, which a running cluster may use
    received: list[bytes] = []

    async def listen() -> None:
        async for data in manager._listen():
            received.append(data)

    listening = asyncio.create_task(listen())
    publisher = Redis.from_url(REDIS_URL)
    listeners_reached = []
    try:
        while not await publisher.pubsub_numsub(channel) or \
                (await publisher.pubsub_numsub(channel))[0][1] == 0:
            await asyncio.sleep(0.05)
        # Quiet for longer than the socket timeout, then a message every 0.2 s for as long
        # again: each one must find the listener subscribed.
        await asyncio.sleep(REDIS_TIMEOUT_S + 1)
        for number in range(int((REDIS_TIMEOUT_S + 2) / PUBLISH_EVERY_S)):
            listeners_reached.append(await publisher.publish(channel, f"reply {number}"))
            await asyncio.sleep(PUBLISH_EVERY_S)
        await asyncio.sleep(0.5)
    finally:
        listening.cancel()
        await publisher.aclose() if hasattr(publisher, "aclose") else await publisher.close()
    return listeners_reached, received, [f"reply {n}".encode() for n in range(
        len(listeners_reached))]


def test_a_listener_idle_past_its_timeout_misses_no_message(caplog):
    redis_or_skip()
    caplog.set_level(logging.WARNING)
    channel = f"test-chat-{uuid.uuid4().hex[:10]}"
    listeners_reached, received, sent = asyncio.run(publish_through_a_quiet_spell(channel))
    assert set(listeners_reached) == {1}, listeners_reached
    assert received == sent
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


async def listen_to_a_redis_that_refuses_the_channel(seconds: float) -> tuple[int, int]:
    """A Redis whose ACL leaves out the channel: every command gets -NOPERM. Returns the
    connections it was asked for, and how many were still open at the end."""
    opened, still_open = [0], set()

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        opened[0] += 1
        still_open.add(writer)
        try:
            while await reader.read(4096):
                writer.write(b"-NOPERM this user has no permissions to access the channel\r\n")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            still_open.discard(writer)

    server = await asyncio.start_server(refuse, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    manager = CrossInstanceManager(f"redis://127.0.0.1:{port}/0")

    async def listen() -> None:
        async for _ in manager._listen():
            pass

    listening = asyncio.create_task(listen())
    await asyncio.sleep(seconds)
    listening.cancel()
    await asyncio.sleep(0.2)
    server.close()
    return opened[0], len(still_open)


def test_a_redis_that_refuses_the_channel_is_asked_again_slowly_on_one_socket():
    # Asked at once, again and again, it took thousands of sockets a second and a core.
    opened, still_open = asyncio.run(listen_to_a_redis_that_refuses_the_channel(4.0))
    assert 2 <= opened <= 5  # after 0.5, 1 and 2 s
    assert still_open <= 1
