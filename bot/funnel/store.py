"""Funnel steps in the leads database: written by the consumer, counted by the console."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.funnel.steps import CONVERSATION, FUNNEL_ORDER
from bot.leads.schema import FunnelStep


def record_step(engine: Engine, record: dict[str, Any]) -> bool:
    """Stores one record from the stream; False if that conversation already reached that
    step. RabbitMQ delivers at least once (a redelivery after a broker restart, a record
    published again after a failed confirm), so a step is counted once however often it
    arrives."""
    at = record.get("at")
    reached_at = (dt.datetime.fromtimestamp(at, dt.timezone.utc) if at is not None
                  else dt.datetime.now(dt.timezone.utc))
    with Session(engine, future=True) as session:
        session.add(FunnelStep(conversation_key=record["conversation"], step=record["step"],
                               channel=record.get("channel"), reached_at=reached_at))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return False
    return True


def step_counts(engine: Engine, since: dt.datetime) -> dict[str, int]:
    """Conversations that reached each step since `since`, in the funnel's order."""
    with Session(engine, future=True) as session:
        counted = dict(session.execute(
            select(FunnelStep.step, func.count()).where(FunnelStep.reached_at >= since)
            .group_by(FunnelStep.step)).all())
    return {step: counted.get(step, 0) for step in FUNNEL_ORDER}


def conversations_by_channel(engine: Engine, since: dt.datetime) -> dict[str | None, int]:
    with Session(engine, future=True) as session:
        return dict(session.execute(
            select(FunnelStep.channel, func.count())
            .where(FunnelStep.step == CONVERSATION, FunnelStep.reached_at >= since)
            .group_by(FunnelStep.channel)).all())
