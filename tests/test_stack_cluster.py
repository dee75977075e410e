"""The production profile: two Rasa instances behind HAProxy, on PostgreSQL and Redis.

A cluster of its own (scripts/cluster.py): fresh PostgreSQL databases on the machine's server
and a Redis server of its own, so that restarting Redis here disturbs nothing else.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import datetime as dt
import http.cookiejar
import json
import re
import signal
import time
import urllib.parse
import urllib.request
import uuid
from unittest import mock

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.funnel.steps import conversation_key
from bot.leads.database import make_engine
from bot.leads.recording import LeadRecorder
from bot.leads.schema import FunnelStep, Lead
from bot.leads.spool import LeadSpool
from bot.leads.store import LeadStore
from bot.local_secrets import conversation_id_secret
from bot.settings import load_settings
from connectors.replies import channel_reply
from scripts.cluster import Cluster, ready_message
from scripts.rest_client import WebsiteConversation, post, texts
from scripts.stack import free_port
from tests.conftest import _throwaway_postgres_database
from tests.stack_helpers import (
    API_TOKEN,
    NO_RATE_LIMITS,
    CuttableProxy,
    LocalRedis,
    delete_exchange_and_queue,
    http_status,
    rabbitmq_or_skip,
    wait_for,
)
from tests.test_leads_database import finished_prescreen

pytestmark = pytest.mark.stack

# (answer, a phrase the NEXT question must contain), as in tests/test_stack_prescreen.py.
PRESCREEN = [
    ("I'm ready to get started", "Is this for you"),
    ("it's for my son", "first name"),
    ("I'm Maria", "How old is your child"),
    ("he's 24", "state does your child live in"),
    ("Illinois 62701", "What is your child using"),
    ("mostly booze and some xanax", "how often"),
    ("1", "withdrawal"),
    ("2", "suicidal thoughts"),
    ("1", "insurance"),
    ("he has BCBS", "phone number"),
    ("312-555-0142", "good time"),
    ("evenings, texts are ok", "42 CFR Part 2"),
]
# The default; no other test here sends a conversation this many messages in a minute.
CONVERSATION_LIMIT = 20
QUESTIONS = ["how much does it cost", "do you take insurance", "where are you located",
             "what are your hours", "how long is the program", "is it confidential",
             "do you do drug testing", "can my family be involved", "what is iop",
             "do you offer telehealth"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("cluster")
    tracker_url, drop_tracker = _throwaway_postgres_database()
    leads_url, drop_leads = _throwaway_postgres_database()
    # Each database reached through a proxy the PostgreSQL test can cut.
    postgres = urllib.parse.urlsplit(tracker_url)
    proxies = {name: CuttableProxy(postgres.hostname, postgres.port)
               for name in ("tracker", "leads")}
    tracker_url = tracker_url.replace(postgres.netloc,
                                      f"postgres@127.0.0.1:{proxies['tracker'].port}")
    leads_url = leads_url.replace(postgres.netloc, f"postgres@127.0.0.1:{proxies['leads'].port}")
    redis = LocalRedis(free_port()).start()
    rabbitmq_or_skip()
    # RabbitMQ through a proxy of its own too, and an exchange and queue of the test's own.
    rabbitmq = CuttableProxy("127.0.0.1", 5672)
    stream_name = f"test-cluster-funnel-{uuid.uuid4().hex[:10]}"
    # The per-conversation rate at its default, so that the cluster counting it is tested; the
    # others stay off, as every test here talks from 127.0.0.1.
    env = {**NO_RATE_LIMITS, "RATE_LIMIT_CONVERSATION_PER_MINUTE": str(CONVERSATION_LIMIT),
           "RASA_API_TOKEN": API_TOKEN, "SPOOL_RETRY_SECONDS": "2"}
    with mock.patch.dict("os.environ", env):
        settings = dataclasses.replace(
            load_settings().with_var_dir(workdir / "var"), redis_url=redis.url,
            cluster_tracker_url=tracker_url, cluster_leads_url=leads_url,
            rabbitmq_url=f"amqp://guest:guest@127.0.0.1:{rabbitmq.port}/",
            funnel_exchange=stream_name, funnel_queue=stream_name,
            funnel_health_port=free_port(),
            cluster_port=free_port(), cluster_api_port=free_port(), staff_port=free_port(),
            rasa_api_token=API_TOKEN)
    running = Cluster(settings, log_path=workdir / "cluster.log", extra_env=env)
    try:
        running.start()
        running.redis = redis
        running.proxies = proxies
        running.rabbitmq = rabbitmq
        running.leads = make_engine(leads_url)
        yield running
    finally:
        running.stop()
        redis.stop()
        for proxy in (*proxies.values(), rabbitmq):
            proxy.close()
        asyncio.run(delete_exchange_and_queue(stream_name))
        if getattr(running, "leads", None) is not None:
            running.leads.dispose()
        drop_tracker()
        drop_leads()


def instance_url(cluster: Cluster, name: str) -> str:
    return cluster.instances[name].rasa_url


def tracker(cluster: Cluster, conversation_id: str, through: str | None = None) -> dict:
    base = instance_url(cluster, through) if through else cluster.api_url
    url = f"{base}/conversations/{urllib.parse.quote(conversation_id)}/tracker?token={API_TOKEN}"
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.loads(answer.read())


def test_a_prescreen_alternating_between_the_instances_finishes_with_one_complete_lead(cluster):
    conversation = WebsiteConversation(instance_url(cluster, "a"), timeout_s=60)
    for turn, (answer, next_question) in enumerate(PRESCREEN):
        conversation.base_url = instance_url(cluster, "ab"[turn % 2])
        reply = conversation.texts(answer)[-1]
        assert next_question in reply, (turn, answer, reply)
    conversation.base_url = instance_url(cluster, "b")
    assert conversation.texts("yes, I agree")[-1].startswith("Thank you, Maria.")
    with Session(cluster.leads, future=True) as session:
        leads = session.execute(select(Lead).where(
            Lead.conversation_id == conversation.conversation_id)).scalars().all()
    assert [(lead.status, lead.first_name, lead.insurance_carrier) for lead in leads] == [
        ("complete", "Maria", "Blue Cross Blue Shield")]


def test_ten_messages_at_once_through_both_instances_are_each_answered_once_in_order(cluster):
    opening = WebsiteConversation(cluster.url, timeout_s=60)
    opening.texts("hello")
    conversation_id = opening.conversation_id

    def ask(number: int) -> list[str]:
        one = WebsiteConversation(instance_url(cluster, "ab"[number % 2]), timeout_s=90,
                                  conversation_id=conversation_id)
        return one.texts(QUESTIONS[number])

    with concurrent.futures.ThreadPoolExecutor(len(QUESTIONS)) as pool:
        replies = list(pool.map(ask, range(len(QUESTIONS))))
    assert all(reply for reply in replies)  # every message answered
    events = tracker(cluster, conversation_id)["events"]
    said = [event["text"] for event in events if event["event"] == "user"]
    assert sorted(said[1:]) == sorted(QUESTIONS)  # none lost, none twice
    # Consistent order: each message's turn ends (action_listen) before the next begins.
    turn_open = False
    for event in events:
        if event["event"] == "user":
            assert not turn_open, "a message began before the previous turn ended"
            turn_open = True
        elif event["event"] == "action" and event.get("name") == "action_listen":
            turn_open = False
    bot_texts = [event.get("text") for event in events if event["event"] == "bot"]
    assert all(any(text in bot_texts for text in reply) for reply in replies)


def test_a_conversations_message_rate_is_counted_once_for_both_instances(cluster):
    conversation = WebsiteConversation(instance_url(cluster, "a"), timeout_s=60)
    for turn in range(CONVERSATION_LIMIT):
        conversation.base_url = instance_url(cluster, "ab"[turn % 2])
        assert conversation.texts("what are your hours"), turn
    # Each instance has seen half: counted per instance, this one would be answered.
    over = post(instance_url(cluster, "b"), {"message": "what are your hours",
                                             "sender": conversation.conversation_id})
    assert over.status == 429
    assert 1 <= int(over.headers.get("Retry-After")) <= 60
    assert texts(over.body) == [channel_reply("utter_rate_limited")["text"]]


def open_widget(url: str):
    """A chat widget's socket.io connection with its session confirmed."""
    import socketio

    widget = socketio.Client(reconnection=False)
    confirmed, received = [], []
    widget.on("session_confirm", confirmed.append)
    widget.on("bot_uttered", received.append)
    widget.connect(url, transports=["websocket"], wait_timeout=30)
    widget.emit("session_request", {"session_id": None})
    deadline = time.monotonic() + 30
    while not confirmed and time.monotonic() < deadline:
        time.sleep(0.1)
    assert confirmed
    return widget, confirmed, received


def test_a_counselor_reply_through_one_instance_reaches_a_widget_on_the_other(cluster):
    widget, confirmed, received = open_widget(instance_url(cluster, "b"))
    try:
        assert widget.call("user_uttered", {"message": "hello"}, timeout=60)
        query = urllib.parse.urlencode({"execute_side_effects": "true",
                                        "output_channel": "latest", "token": API_TOKEN})
        words = "Hi, this is Maria from admissions, writing from the console."
        event = {"event": "bot", "text": words,
                 "metadata": {"counselor": {"name": "Maria", "role": "admissions counselor"}}}
        posted = urllib.request.Request(
            f"{instance_url(cluster, 'a')}/conversations/{confirmed[0]}/tracker/events?{query}",
            data=json.dumps(event).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(posted, timeout=30) as answer:
            assert answer.status == 200
        deadline = time.monotonic() + 15
        while words not in [m.get("text") for m in received] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert words in [message.get("text") for message in received]
    finally:
        widget.disconnect()


def test_run_cluster_prints_a_first_admin_who_signs_in_to_the_clusters_console(cluster):
    shown = ready_message(cluster)
    password = re.search(r"username admin, one-time password (\S+)", shown).group(1)
    # More accounts are made with the CLI on the cluster's database, not make run's.
    assert f"DATABASE_URL={cluster.settings.cluster_leads_url} .venv/bin/python -m bot.staff" \
        in shown
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(
        http.cookiejar.CookieJar()))
    signed = opener.open(f"{cluster.staff_url}/login", data=urllib.parse.urlencode(
        {"username": "admin", "password": password}).encode(), timeout=10)
    assert signed.url.endswith("/password") and "Change your password" in signed.read().decode()


def test_after_a_redis_restart_new_turns_work_without_restarting_the_assistant(cluster):
    conversation = WebsiteConversation(cluster.url, timeout_s=60)
    assert conversation.texts("how much does it cost")
    widget, confirmed, received = open_widget(instance_url(cluster, "a"))
    cluster.redis.stop()
    try:
        # The widget's crisis reply needs Redis no more than REST's does.
        widget.call("user_uttered", {"message": "I took too many pills and can't wake up"},
                    timeout=30)
        deadline = time.monotonic() + 15
        while not any("911" in (m.get("text") or "") for m in received) and (
                time.monotonic() < deadline):
            time.sleep(0.1)
        assert any("911" in (message.get("text") or "") for message in received)
        began = time.monotonic()
        reply = conversation.texts("do you take insurance")
        # A turn while Redis is down fails at once, with words a person can act on.
        assert time.monotonic() - began < 15
        assert reply == [channel_reply("utter_channel_error")["text"]]
        # A crisis needs no lock: it is answered before the assistant is asked.
        assert "988" in " ".join(conversation.texts("I want to kill myself"))
    finally:
        widget.disconnect()
        cluster.redis.start()
    assert "Tell me more" not in conversation.texts("where are you located")[-1]
    assert "something went wrong" not in conversation.texts("what are your hours")[-1]


def funnel_steps_of(cluster: Cluster, conversation_id: str) -> set[str]:
    # The key takes the day: today's, or yesterday's if the test ran across midnight (UTC).
    today = dt.datetime.now(dt.timezone.utc).date()
    secret = conversation_id_secret(cluster.settings)
    keys = [conversation_key(secret, conversation_id, day)
            for day in (today, today - dt.timedelta(days=1))]
    with Session(cluster.leads, future=True) as session:
        return set(session.execute(select(FunnelStep.step).where(
            FunnelStep.conversation_key.in_(keys))).scalars())


def test_with_rabbitmq_unreachable_conversations_go_on_and_their_steps_arrive_later(cluster):
    before = WebsiteConversation(cluster.url, timeout_s=60)
    assert before.texts("how much does it cost")
    wait_for(lambda: funnel_steps_of(cluster, before.conversation_id) == {
        "conversation", "question_answered"}, "the first conversation's steps counted")
    cluster.rabbitmq.cut()
    try:
        wait_for(lambda: http_status(cluster.funnel_health_url) == 503,
                 "the consumer reports RabbitMQ away")
        during = WebsiteConversation(cluster.url, timeout_s=60)
        # Conversations are unaffected: the same answers as ever, no error reply.
        assert "Self-pay" in " ".join(during.texts("how much does it cost"))
        assert "Is this for you" in during.texts("I'm ready to get started")[-1]
        assert "988" in " ".join(during.texts("I want to kill myself"))
        assert not funnel_steps_of(cluster, during.conversation_id)
    finally:
        cluster.rabbitmq.restore()
    # Each instance kept its records and sends them once RabbitMQ answers again.
    wait_for(lambda: funnel_steps_of(cluster, during.conversation_id) >= {
        "conversation", "question_answered", "prescreen_started", "crisis"},
        "the steps of the conversation held during the outage counted", timeout_s=90)
    wait_for(lambda: http_status(cluster.funnel_health_url) == 200,
             "the consumer reconnected")
    after = WebsiteConversation(cluster.url, timeout_s=60)
    assert after.texts("do you take insurance")
    wait_for(lambda: "question_answered" in funnel_steps_of(cluster, after.conversation_id),
             "a conversation after the outage counted")


def spooled(cluster: Cluster) -> int:
    return sum(len(LeadSpool(stack.settings.lead_spool_dir).pending())
               for stack in cluster.instances.values())


def test_a_lead_spooled_by_an_instance_that_is_down_is_landed_by_the_other(cluster):
    actions_a = cluster.instances["a"].processes[0]
    assert "bot.actions.server" in actions_a.args
    assert spooled(cluster) == 0
    # Instance a's action server frozen, as if its machine were gone, with a lead in its
    # spool (written while the database was down).
    actions_a.send_signal(signal.SIGSTOP)
    try:
        spool_a = LeadSpool(cluster.instances["a"].settings.lead_spool_dir)
        LeadRecorder(LeadStore(make_engine("postgresql://postgres@127.0.0.1:1/leads")),
                     spool_a).record(finished_prescreen("web-spooled-by-a"))
        assert len(spool_a.pending()) == 1
        deadline = time.monotonic() + 30
        while spool_a.pending() and time.monotonic() < deadline:
            time.sleep(0.5)
        landed = leads_of(cluster, "web-spooled-by-a")
    finally:
        actions_a.send_signal(signal.SIGCONT)
    assert [(lead.status, lead.first_name) for lead in landed] == [("complete", "Sam")]
    assert spooled(cluster) == 0


def leads_of(cluster: Cluster, conversation_id: str) -> list[Lead]:
    with Session(cluster.leads, future=True) as session:
        return session.execute(select(Lead).where(
            Lead.conversation_id == conversation_id)).scalars().all()


def test_with_postgresql_cut_for_30_s_leads_wait_in_the_spool_then_land_once(cluster):
    finishing = WebsiteConversation(cluster.url, timeout_s=60)
    for answer, next_question in PRESCREEN:
        assert next_question in finishing.texts(answer)[-1]
    asking = WebsiteConversation(cluster.url, timeout_s=60)
    assert asking.texts("how much does it cost")
    cut_at = time.monotonic()
    cluster.proxies["leads"].cut()
    try:
        # The leads database is unreachable: the person is still told they are done, and
        # the lead waits on the instance's disk.
        assert finishing.texts("yes, I agree")[-1].startswith("Thank you, Maria.")
        assert spooled(cluster) == 1
        cluster.proxies["tracker"].cut()
        # Conversations cannot be read: a kind reply at once, not an error page or a hang.
        began = time.monotonic()
        assert asking.texts("do you take insurance") == [
            channel_reply("utter_channel_error")["text"]]
        assert time.monotonic() - began < 15
        time.sleep(max(0.0, 30 - (time.monotonic() - cut_at)))
    finally:
        for proxy in cluster.proxies.values():
            proxy.restore()
    answered = asking.texts("do you take insurance")
    assert answered and "something went wrong" not in answered[-1]
    deadline = time.monotonic() + 30
    while (spooled(cluster) or not leads_of(cluster, finishing.conversation_id)) and (
            time.monotonic() < deadline):
        time.sleep(0.5)
    landed = leads_of(cluster, finishing.conversation_id)
    assert [(lead.status, lead.first_name) for lead in landed] == [("complete", "Maria")]
    assert spooled(cluster) == 0
    # Nothing said before the cut was lost; the turn that failed was never half-saved.
    said = [event["text"] for event in tracker(cluster, asking.conversation_id)["events"]
            if event["event"] == "user"]
    assert said == ["how much does it cost", "do you take insurance"]


def test_with_one_instance_killed_the_conversation_goes_on_and_the_instance_comes_back(cluster):
    conversation = WebsiteConversation(cluster.url, timeout_s=60)
    for answer, next_question in PRESCREEN[:4]:
        assert next_question in conversation.texts(answer)[-1]
    rasa_a = cluster.instances["a"].processes[1]
    assert "connectors.rasa_server" in rasa_a.args
    rasa_a.send_signal(signal.SIGKILL)
    rasa_a.wait()
    for answer, next_question in PRESCREEN[4:8]:
        assert next_question in conversation.texts(answer)[-1], answer
    assert tracker(cluster, conversation.conversation_id, through="b")["slots"][
        "ps_first_name"] == "Maria"
    # What `make run-cluster` does when it sees an instance gone: the pair is started again
    # and picks the conversation up where the other instance left it.
    assert cluster.restart_exited() == ["instance a"]
    conversation.base_url = instance_url(cluster, "a")
    for answer, next_question in PRESCREEN[8:10]:
        assert next_question in conversation.texts(answer)[-1], answer
    assert not cluster.any_exited()
