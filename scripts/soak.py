"""`make soak`: the production profile under a steady crowd, and what one instance holds.

Starts a cluster of its own (scripts/cluster.py, on throwaway PostgreSQL databases and its own
Redis database), then:
1. 200 conversations arriving over 30 s, then all 200 at once for 2 minutes, through the
   load balancer: half over the REST channel and half over the chat widget's socket.io,
   each a pre-screen or a few questions, started again when done. People read and type
   between messages: each conversation waits 3-7 s (uniformly, 5 s on average) before its
   next message, so 200 conversations send about 40 a second on average at the very most
   (fewer: each gap also holds the reply, and a widget conversation's connection). The 2
   minutes with all of them there is the soak's figure; the arrival gets a row of its own
   (SOAK_ARRIVAL_SECONDS makes it a sharper burst);
2. the same crowd against one Rasa instance directly;
3. one instance with 25, 50, 100, 150 and 200 conversations (arriving over 15 s, then 30 s
   each), to find where its p95 passes 1 s, and from that how many instances 1,000
   conversations need.

It prints errors (a reply that never came, an error reply, a refused request), lost turns,
p50/p95/p99 latency (from sending a message to its first reply), messages a second, and the
peak and final memory of every process. The load generator runs on the same 2 cores as the
servers and takes part of them: the figures are a floor for a machine of one's own.
"""
from __future__ import annotations

import asyncio
import dataclasses
import math
import os
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bot.local_secrets import ensure_private_dir
from bot.settings import load_settings
from scripts.cluster import Cluster
from scripts.rest_client import CONVERSATION_HEADER, WEBHOOK
from scripts.stack import free_port

# Blank (an .env copied from .env.example) means the default.
CROWD = int(os.environ.get("SOAK_CONVERSATIONS") or 200)
DURATION_S = float(os.environ.get("SOAK_SECONDS") or 120)
RAMP = (25, 50, 100, 150, 200)
RAMP_STEP_S = float(os.environ.get("SOAK_RAMP_SECONDS") or 30)
THINK_S = (3.0, 7.0)
REPLY_TIMEOUT_S = 30.0
# Arrivals over 30 s: all 200 within one think time (7 s, as earlier soaks had them) is a
# burst of 28 new conversations a second, which also come back for their next conversation
# all at once; a steady crowd of 200 starts about 4 a second.
ARRIVAL_S = float(os.environ.get("SOAK_ARRIVAL_SECONDS") or 30)
ERROR_REPLY = "something went wrong"

PRESCREEN = ["I'm ready to get started", "it's for me", "I'm Sam", "34", "Ohio 43004",
             "alcohol", "1", "2", "2", "self pay", "614-555-0100", "mornings", "yes, I agree"]
QUESTIONS = ["how much does it cost", "do you take insurance", "what are your hours",
             "is it confidential", "how long is the program", "do you offer telehealth"]


def a_conversation() -> list[str]:
    if random.random() < 0.5:
        return PRESCREEN
    return ["hello", *random.sample(QUESTIONS, 3)]


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    # (channel, message, when sent, seconds) of each answered message: where the slow ones are.
    answers: list[tuple[str, str, float, float]] = field(default_factory=list)
    errors: int = 0
    lost: int = 0
    sent: int = 0
    # Answered messages by channel: both halves of the crowd must show up in the figures.
    answered: dict[str, int] = field(default_factory=lambda: {"rest": 0, "widget": 0})

    def answer(self, channel: str, text: str, seconds: float) -> None:
        self.latencies.append(seconds)
        self.answered[channel] += 1
        self.answers.append((channel, text, time.monotonic() - seconds, seconds))

    def row(self, wall_s: float) -> dict:
        """The figures of `wall_s` seconds (no rate for none: SOAK_ARRIVAL_SECONDS=0)."""
        def percentile(latencies: list[float], p: float) -> float:
            ordered = sorted(latencies) or [float("nan")]
            return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000

        by_channel = {channel: percentile([s for c, _, _, s in self.answers if c == channel], 95)
                      for channel in self.answered}
        return {"messages": self.sent, "errors": self.errors, "lost": self.lost,
                "p50_ms": percentile(self.latencies, 50),
                "p95_ms": percentile(self.latencies, 95),
                "p99_ms": percentile(self.latencies, 99),
                "messages_per_s": len(self.latencies) / wall_s if wall_s > 0 else float("nan"),
                "answered": self.answered,
                "p95_by_channel_ms": by_channel, "answers": self.answers}


@dataclass
class Tallies:
    """Messages sent while the crowd is still arriving are counted apart from the rest: the
    figures are for the crowd once it is all there, and the arrival is shown on its own.
    The steady part begins when the last conversation has started, not when it was due to."""
    steady_from: float = math.inf
    arriving: Tally = field(default_factory=Tally)
    steady: Tally = field(default_factory=Tally)

    def at(self, when: float) -> Tally:
        return self.steady if when >= self.steady_from else self.arriving


async def rest_visitor(session, base_url: str, tallies: Tallies, until: float) -> None:
    while time.monotonic() < until:
        conversation_id = None
        for text in a_conversation():
            if time.monotonic() >= until:
                return
            body = {"message": text, **({"sender": conversation_id} if conversation_id else {})}
            tally = tallies.at(time.monotonic())
            tally.sent += 1
            began = time.perf_counter()
            try:
                async with session.post(f"{base_url}{WEBHOOK}", json=body,
                                        timeout=REPLY_TIMEOUT_S) as answer:
                    replies = await answer.json() if answer.status == 200 else None
                    conversation_id = answer.headers.get(CONVERSATION_HEADER, conversation_id)
            except (OSError, asyncio.TimeoutError, ValueError):
                replies = None
            if not replies:
                tally.lost += 1
            elif any(ERROR_REPLY in (reply.get("text") or "") for reply in replies):
                tally.errors += 1
            else:
                tally.answer("rest", text, time.perf_counter() - began)
            await asyncio.sleep(random.uniform(*THINK_S))


async def widget_visitor(session, base_url: str, tallies: Tallies, until: float) -> None:
    import aiohttp
    import socketio

    while time.monotonic() < until:
        # Long-polling, as a browser where WebSockets are blocked: python-engineio's asyncio
        # WebSocket client needs aiohttp 3.11, and Rasa pins aiohttp below 3.10. Polling is
        # also the harder case for the cluster: every poll is a new request, which the load
        # balancer's cookie must send to the instance holding the session. So each widget
        # visitor has a cookie jar of its own, which takes cookies from an IP address (the
        # default jar refuses them), over the crowd's shared connections.
        jar = aiohttp.CookieJar(unsafe=True)
        http = aiohttp.ClientSession(connector=session.connector, connector_owner=False,
                                     cookie_jar=jar)
        client = socketio.AsyncClient(reconnection=False, http_session=http)
        # (when, message) of each reply to the message in flight; the server acknowledges a
        # message once its whole turn is done, so after the acknowledgement all are here.
        replies: list[tuple[float, dict]] = []
        confirmed = asyncio.Event()
        client.on("bot_uttered", lambda message, into=replies: into.append(
            (time.perf_counter(), message)))
        client.on("session_confirm", lambda _id, done=confirmed: done.set())
        try:
            await client.connect(base_url, transports=["polling"], wait_timeout=30)
            await client.emit("session_request", {"session_id": None})
            await asyncio.wait_for(confirmed.wait(), REPLY_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError, socketio.exceptions.ConnectionError):
            tallies.at(time.monotonic()).errors += 1
            await client.disconnect()
            await http.close()
            await asyncio.sleep(1)
            continue
        try:
            for text in a_conversation():
                if time.monotonic() >= until:
                    return
                replies.clear()
                tally = tallies.at(time.monotonic())
                tally.sent += 1
                began = time.perf_counter()
                try:
                    ack = await client.call("user_uttered", {"message": text},
                                            timeout=REPLY_TIMEOUT_S)
                except (OSError, asyncio.TimeoutError, socketio.exceptions.SocketIOError):
                    ack = None
                if not (ack or {}).get("ok") or not replies:
                    tally.lost += 1
                    break
                if any(ERROR_REPLY in (message.get("text") or "") for _, message in replies):
                    tally.errors += 1
                else:
                    tally.answer("widget", text, replies[0][0] - began)
                await asyncio.sleep(random.uniform(*THINK_S))
        finally:
            await client.disconnect()
            await http.close()


async def crowd(base_url: str, size: int, seconds: float, arrive_over_s: float) -> dict:
    """`size` conversations arriving evenly over `arrive_over_s`, then `seconds` with all of
    them there: a row for each part, and when the last of them arrived."""
    import aiohttp

    began = time.monotonic()
    tallies = Tallies()
    cpu_began = time.process_time()
    until = began + arrive_over_s + seconds
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        visitors = []
        for number in range(size):
            visitor = (rest_visitor(session, base_url, tallies, until) if number % 2 == 0
                       else widget_visitor(session, base_url, tallies, until))
            visitors.append(asyncio.create_task(visitor))
            # Arrivals spread out, as people reach out one by one, not all in the same second;
            # that also keeps the conversations from starting again all at once.
            await asyncio.sleep(arrive_over_s / size)
        tallies.steady_from = time.monotonic()
        outcomes = await asyncio.gather(*visitors, return_exceptions=True)
    crashed = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if crashed:
        # A visitor that crashed sent nothing more: its share of the crowd would be missing
        # from every figure without a trace.
        raise RuntimeError(f"{len(crashed)} of {size} visitors crashed, the first with "
                           f"{type(crashed[0]).__name__}: {crashed[0]}") from crashed[0]
    wall_s = time.monotonic() - began
    # The crowd runs on the servers' cores: how many of them it took itself.
    cores = (time.process_time() - cpu_began) / wall_s
    arrived_s = tallies.steady_from - began
    return {"arriving": {**tallies.arriving.row(arrived_s), "generator_cores": cores},
            "steady": {**tallies.steady.row(until - tallies.steady_from),
                       "generator_cores": cores},
            "arrived_after_s": arrived_s}


class MemoryWatch:
    """RSS of every process of the cluster, sampled every second."""

    def __init__(self, processes: dict[str, int]) -> None:
        self.processes = processes
        self.samples: dict[str, list[tuple[float, float]]] = {name: [] for name in processes}
        self.began = time.monotonic()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            now = time.monotonic() - self.began
            for name, pid in self.processes.items():
                rss = _rss_mb(pid)
                if rss is not None:
                    self.samples[name].append((now, rss))
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except asyncio.TimeoutError:
                pass

    def summary(self, after_s: float) -> dict[str, tuple[float, float, float, float]]:
        """Per process, after warm-up: peak, final, final as a share of that peak (the
        target), and final as a share of the first reading (growth while the crowd stayed)."""
        out = {}
        for name, samples in self.samples.items():
            warm = [rss for at, rss in samples if at >= after_s] or [rss for _, rss in samples]
            if warm:
                out[name] = (max(warm), warm[-1], warm[-1] / max(warm), warm[-1] / warm[0])
        return out


def _rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cluster_processes(cluster: Cluster) -> dict[str, int]:
    named = {}
    for name, stack in cluster.instances.items():
        named[f"actions {name}"] = stack.processes[0].pid
        named[f"rasa {name}"] = stack.processes[1].pid
    named["console"] = cluster.console.pid
    named["funnel"] = cluster.funnel_consumer.pid
    named["haproxy"] = cluster.balancer.pid
    return named


async def measured(base_url: str, size: int, seconds: float, processes: dict[str, int],
                   arrive_over_s: float = ARRIVAL_S):
    watch = MemoryWatch(processes)
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch.run(stop))
    rows = await crowd(base_url, size, seconds, arrive_over_s)
    stop.set()
    await watcher
    # Memory after warm-up: once the whole crowd is there.
    return rows, watch.summary(rows["arrived_after_s"])


def print_row(label: str, row: dict) -> None:
    print(f"{label:<32} {row['messages']:>8} {row['errors']:>6} {row['lost']:>5} "
          f"{row['p50_ms']:>7.0f} {row['p95_ms']:>7.0f} {row['p99_ms']:>7.0f} "
          f"{row['messages_per_s']:>6.1f}   answered: REST {row['answered']['rest']} (p95 "
          f"{row['p95_by_channel_ms']['rest']:.0f} ms), widget {row['answered']['widget']} "
          f"(p95 {row['p95_by_channel_ms']['widget']:.0f} ms); the crowd itself used "
          f"{row['generator_cores']:.2f} cores", flush=True)


def print_memory(memory: dict[str, tuple[float, float, float, float]]) -> None:
    for name, (peak, final, share, growth) in memory.items():
        print(f"  {name:<12} peak {peak:7.0f} MB   final {final:7.0f} MB   "
              f"final/peak {share:5.0%}   final/first {growth:5.0%}")
    total = sum(peak for peak, *_ in memory.values())
    print(f"  {'all':<12} peak {total:7.0f} MB (sum of each process's peak)", flush=True)


HEADER = (f"{'':<32} {'messages':>8} {'errors':>6} {'lost':>5} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'p99 ms':>7} {'msg/s':>6}")


async def soak(cluster: Cluster) -> None:
    processes = cluster_processes(cluster)
    print(f"\n{CROWD} conversations arriving over {ARRIVAL_S:.0f} s, then {DURATION_S:.0f} s "
          f"with all of them; think time {THINK_S[0]:.0f}-{THINK_S[1]:.0f} s between "
          f"messages\n{HEADER}")
    rows, memory = await measured(cluster.url, CROWD, DURATION_S, processes)
    print_row("cluster (2 instances, HAProxy)", rows["steady"])
    print_row("  while they arrived", rows["arriving"])
    print_memory(memory)
    one = {name: pid for name, pid in processes.items() if name.endswith(" a")}
    rows, memory = await measured(cluster.instances["a"].rasa_url, CROWD, DURATION_S, one)
    print(HEADER)
    print_row("one instance", rows["steady"])
    print_row("  while they arrived", rows["arriving"])
    print_memory(memory)
    print(f"\nOne instance, {RAMP_STEP_S:.0f} s at each size (after {ARRIVAL_S / 2:.0f} s of "
          f"arrivals)\n{HEADER}")
    holds = 0
    for size in RAMP:
        rows, _ = await measured(cluster.instances["a"].rasa_url, size, RAMP_STEP_S, one,
                                 ARRIVAL_S / 2)
        row = rows["steady"]
        print_row(f"one instance, {size} conversations", row)
        if not (row["p95_ms"] < 1000 and not row["errors"] and not row["lost"]):
            break  # a larger size that happened to pass after this one does not count
        holds = size
    if holds:
        needed = math.ceil(1000 / holds)
        print(f"\nOne instance holds {holds} conversations at p95 under 1 s (of the sizes "
              f"tried). 1,000 conversations need {needed} instances, {needed + 1} with one "
              "spare so that losing an instance does not push p95 over.")
    else:
        print("\nOne instance did not keep p95 under 1 s at any size tried.")


def main() -> int:
    run_id = uuid.uuid4().hex[:8]
    admin = "postgresql://postgres@127.0.0.1:5432"
    settings = dataclasses.replace(
        load_settings().with_var_dir(Path("var") / f"soak-{run_id}"),
        redis_url=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/3",
        cluster_tracker_url=f"{admin}/soak_conversations_{run_id}",
        cluster_leads_url=f"{admin}/soak_leads_{run_id}",
        rabbitmq_url=os.environ.get("RABBITMQ_URL") or "amqp://guest:guest@127.0.0.1:5672/",
        # An exchange and queue of the soak's own, so a cluster already running keeps its own.
        funnel_exchange=f"soak-funnel-{run_id}", funnel_queue=f"soak-funnel-{run_id}",
        funnel_health_port=free_port(), cluster_port=free_port(),
        cluster_api_port=free_port(), staff_port=free_port())
    # Every soak conversation comes from 127.0.0.1, so the per-address limits are off. The
    # per-conversation one stays on, counted in Redis on every message as in production, at
    # a rate no soak conversation (a message every 3 to 7 s) reaches: a refusal is an error.
    env = {"RATE_LIMIT_IP_PER_MINUTE": "0", "RATE_LIMIT_CONVERSATION_PER_MINUTE": "60",
           "RATE_LIMIT_NEW_CONVERSATIONS_PER_HOUR": "0"}
    os.environ.update(env)
    cluster = Cluster(settings, log_path=settings.var_dir / "cluster.log", extra_env=env)
    print("Starting a cluster for the soak (a minute or two)...", flush=True)
    # var/ first: made as a parent it would be readable by everyone.
    ensure_private_dir(settings.var_dir.parent)
    ensure_private_dir(settings.var_dir)
    cluster.start()
    try:
        asyncio.run(soak(cluster))
    finally:
        cluster.stop()
        drop_databases(admin, run_id)
    return 0


def drop_databases(admin: str, run_id: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(f"{admin}/postgres", future=True, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        for name in (f"soak_conversations_{run_id}", f"soak_leads_{run_id}"):
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
