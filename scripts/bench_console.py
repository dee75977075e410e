"""The staff console's two waits, for `make bench`: how long a new handoff takes to show on a
counselor's open queue page, and how long a counselor's reply takes to reach the visitor's
chat widget. Driven as the browser does it: the queue's live stream (server-sent events),
then the rows it fetches; the widget's socket.io connection."""
from __future__ import annotations

import re
import statistics
import threading
import time

import httpx
import socketio
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.leads.database import engine_for
from bot.leads.schema import Handoff
from bot.staff.desk import StaffDesk

PASSWORD = "bench counselor secret"


def _signed_in(console_url: str, desk: StaffDesk, username: str) -> httpx.Client:
    one_time = desk.add_user(username, "counselor", "Bench")
    client = httpx.Client(base_url=console_url, timeout=30, follow_redirects=True)
    page = client.post("/login", data={"username": username, "password": one_time})
    client.post("/password", data={"csrf_token": _csrf(page.text), "current": one_time,
                                   "new": PASSWORD, "again": PASSWORD})
    return client


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _handoff_of(desk: StaffDesk, conversation_id: str) -> str | None:
    with Session(desk.engine) as session:
        return session.scalar(select(Handoff.id).where(
            Handoff.conversation_id == conversation_id))


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"median_ms": statistics.median(ordered),
            "p95_ms": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
            "samples": len(ordered)}


def console_timing(rasa_url: str, console_url: str, database_url: str,
                   repetitions: int = 10) -> dict[str, dict[str, float]]:
    desk = StaffDesk(engine_for(database_url))
    counselor = _signed_in(console_url, desk, f"bench{int(time.time())}")
    queue_events = threading.Event()
    stop = threading.Event()

    def listen() -> None:
        with httpx.Client(base_url=console_url, cookies=counselor.cookies,
                          timeout=None) as stream_client:
            with stream_client.stream("GET", "/queue/live") as stream:
                for line in stream.iter_lines():
                    if stop.is_set():
                        return
                    if line.startswith("event: queue"):
                        queue_events.set()

    threading.Thread(target=listen, daemon=True).start()
    time.sleep(1.0)  # the stream is open and has sent its first state
    to_queue, to_widget = [], []
    for n in range(repetitions):
        shown_ms, delivered_ms = _one_handoff(rasa_url, counselor, desk, queue_events, n)
        to_queue += [shown_ms] if shown_ms is not None else []
        to_widget += [delivered_ms] if delivered_ms is not None else []
    stop.set()
    return {"handoff_to_queue": _percentiles(to_queue or [float("nan")]),
            "reply_to_widget": _percentiles(to_widget or [float("nan")]),
            "repetitions": {"asked": repetitions, "shown": len(to_queue),
                            "delivered": len(to_widget)}}


def _one_handoff(rasa_url: str, counselor: httpx.Client, desk: StaffDesk,
                 queue_events: threading.Event, n: int) -> tuple[float | None, float | None]:
    """A visitor asks for a person; the counselor sees it, claims it and replies. The two
    waits in ms (None where it never happened within 30 s)."""
    visitor = socketio.Client(reconnection=False)
    confirmed, replies, session = threading.Event(), [], []

    def on_confirm(conversation: str) -> None:
        session.append(conversation)
        confirmed.set()
    visitor.on("session_confirm", on_confirm)
    visitor.on("bot_uttered", lambda message: replies.append((time.perf_counter(),
                                                               message.get("text"))))
    visitor.connect(rasa_url, transports=["websocket"], wait_timeout=30)
    try:
        visitor.emit("session_request", {"session_id": None})
        confirmed.wait(30)
        queue_events.clear()
        asked = time.perf_counter()
        visitor.call("user_uttered", {"message": "I want to talk to a person"}, timeout=60)
        # Shown when the live stream has told the page and the rows it fetches list it.
        handoff_id, shown_ms = None, None
        while shown_ms is None and time.perf_counter() - asked < 30:
            queue_events.wait(1)
            queue_events.clear()
            handoff_id = handoff_id or _handoff_of(desk, session[0])
            if handoff_id and f"/handoffs/{handoff_id}" in counselor.get(
                    "/queue/rows?filter=waiting").text:
                shown_ms = (time.perf_counter() - asked) * 1000
        if handoff_id is None:
            return shown_ms, None
        page = counselor.post(f"/handoffs/{handoff_id}/claim",
                              data={"csrf_token": _csrf(counselor.get("/queue").text)})
        text = f"Hello, this is the bench counselor ({n})."
        sent = time.perf_counter()
        counselor.post(f"/handoffs/{handoff_id}/reply",
                       data={"csrf_token": _csrf(page.text), "text": text})
        delivered_ms = None
        while delivered_ms is None and time.perf_counter() - sent < 30:
            arrived = [at for at, said in replies if said == text]
            if arrived:
                delivered_ms = (arrived[0] - sent) * 1000
            time.sleep(0.01)
        counselor.post(f"/handoffs/{handoff_id}/resolve", data={
            "csrf_token": _csrf(counselor.get(f"/handoffs/{handoff_id}").text),
            "disposition": "not_a_fit", "after": "closed"})
        return shown_ms, delivered_ms
    finally:
        visitor.disconnect()
