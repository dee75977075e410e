"""What the funnel consumer does with each message: counted and acknowledged, sent back to
the queue while the database is away, or dropped when retrying could never succeed."""
from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from bot.funnel import consumer as consumer_module
from bot.funnel.consumer import FunnelConsumer
from bot.settings import load_settings

RECORD = {"conversation": "c" * 64, "step": "crisis", "channel": "website"}


@dataclasses.dataclass
class StandInMessage:
    body: bytes
    outcome: str = "unanswered"

    async def ack(self) -> None:
        self.outcome = "acknowledged"

    async def nack(self, requeue: bool = True) -> None:
        self.outcome = "requeued" if requeue else "rejected"


@pytest.fixture
def consumer(tmp_path, monkeypatch):
    monkeypatch.setattr(consumer_module, "DATABASE_RETRY_SECONDS", 0)
    settings = dataclasses.replace(load_settings().with_var_dir(tmp_path),
                                   database_url=f"sqlite:///{tmp_path / 'leads.db'}",
                                   rabbitmq_url="amqp://guest:guest@127.0.0.1:1/")
    return FunnelConsumer(settings)


def handled(consumer: FunnelConsumer, body: bytes, monkeypatch, failure=None) -> str:
    stored = []

    def record_step(engine, record):
        if failure is not None:
            raise failure
        stored.append(record)
        return True

    monkeypatch.setattr(consumer_module, "record_step", record_step)
    message = StandInMessage(body)
    asyncio.run(consumer.handle(message))
    return message.outcome if not stored else f"{message.outcome}, stored"


def test_a_record_is_stored_then_acknowledged(consumer, monkeypatch):
    assert handled(consumer, json.dumps(RECORD).encode(), monkeypatch) == "acknowledged, stored"


def test_while_the_database_is_away_the_record_goes_back_to_the_queue(consumer, monkeypatch):
    away = OperationalError("INSERT ...", {}, ConnectionRefusedError())
    assert handled(consumer, json.dumps(RECORD).encode(), monkeypatch, away) == "requeued"


@pytest.mark.parametrize("refusal", [DataError("INSERT ...", {}, ValueError()),
                                     IntegrityError("INSERT ...", {}, ValueError())])
def test_a_record_the_database_refuses_is_dropped_not_retried_forever(consumer, monkeypatch,
                                                                      refusal):
    assert handled(consumer, json.dumps(RECORD).encode(), monkeypatch, refusal) == "acknowledged"
    assert consumer.malformed == 1


def test_a_record_padded_past_any_real_size_is_dropped_unread(consumer, monkeypatch):
    padded = json.dumps(RECORD).encode() + b" " * 5000
    assert handled(consumer, padded, monkeypatch) == "acknowledged"
    assert consumer.malformed == 1
