"""`make bench`: latency, throughput and memory of the assistant against a minimal Rasa bot.

Starts the real stack, drives scripted conversations over the REST channel at concurrency 1
and 10, then does the same to a tiny `rasa init` assistant (the baseline), so the cost of
our pipeline shows as a ratio on whatever this machine is doing at the time.

The same conversations also go through the Twilio SMS webhook, each request signed as Twilio
signs it, and calls through the voice webhook (TwiML in, TwiML out). Outbound API calls go to
a local stand-in for Twilio, so nothing leaves the machine.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Callable

from bot.settings import PROJECT_ROOT, load_settings
from connectors.web import describe_bundle
from scripts.bench_console import console_timing
from scripts.rest_client import WebsiteConversation
from scripts.stack import VENV_BIN, Stack, free_port, stack_environment, wait_until_up
from scripts.twilio_local import FakeTwilioApi, signed_post, sms_params, twilio_environment

RESULTS_DIR = PROJECT_ROOT / "bench-results"
BASELINE_DIR = RESULTS_DIR / "baseline"

# One conversation each: a worried parent's questions, an unclear message, a no, a goodbye.
# ("yes" would accept the counselor offer, and a handed-off conversation is paused, silent.)
ASSISTANT_CONVERSATION = [
    "hi", "what is iop", "how much does it cost", "do you take aetna",
    "asdf qwerty", "is there an evening group", "no", "thanks, bye",
]
BASELINE_CONVERSATION = [
    "hi", "I am sad", "no", "I am great", "are you a bot?", "hello", "yes", "bye",
]
# A whole pre-screen, ending in a lead written to the database and a handoff. Each run gets
# its own phone number, as different people would.
def prescreen_conversation() -> list[str]:
    return ["I'm ready to get started", "for me", "Sam", "34", "Illinois", "alcohol", "1", "2",
            "1", "aetna", f"312-555-{random.randint(100, 9999):04d}", "evenings", "yes I agree"]


P95_TARGET_MS = 150
THROUGHPUT_RATIO_TARGET = 0.8
SMS_P99_TARGET_MS = 1000
# The chat widget's socket.io channel may cost at most this much more than REST, at p95.
SOCKET_P95_RATIO_TARGET = 1.2
# A new handoff on a counselor's open queue page, from the visitor's message (assistant included).
QUEUE_P95_TARGET_MS = 2000
# Issue 17: the action server without TensorFlow, and one instance of everything within 2 GB
# (RSS in MiB, as /proc reports it).
ACTIONS_RSS_TARGET_MB = 200
TOGETHER_RSS_TARGET_MB = 2048
# A short call: the greeting, then questions said aloud.
VOICE_CALL = ["how much does it cost", "do you take aetna", "is there an evening group",
              "thanks, bye"]

# The bench measures the assistant at full load from one address: the website channel's
# per-address and per-conversation limits would otherwise refuse most of it.
NO_RATE_LIMITS = {"RATE_LIMIT_IP_PER_MINUTE": "0", "RATE_LIMIT_CONVERSATION_PER_MINUTE": "0",
                  "RATE_LIMIT_NEW_CONVERSATIONS_PER_HOUR": "0"}

# A conversation: a fresh person each time, sending one message and saying if it was answered.
Opener = Callable[[], Callable[[str], bool]]


def rest_conversations(base_url: str) -> Opener:
    def open_conversation() -> Callable[[str], bool]:
        # The baseline keeps the id a client picks; ours replaces it with one it issues.
        conversation = WebsiteConversation(base_url, timeout_s=60,
                                           conversation_id=f"bench-{uuid.uuid4().hex}")
        return lambda text: bool(conversation.send(text))
    return open_conversation


def socket_conversations(base_url: str) -> Opener:
    """The chat widget's path: socket.io over a WebSocket, as a browser ends up after its
    upgrade. Each message's latency is from the emit to the first `bot_uttered`, which is
    what the visitor waits for; the next message goes once the server acknowledged the turn."""
    import socketio

    def open_conversation() -> Callable[[str], float | bool]:
        client = socketio.Client(reconnection=False)
        confirmed, answered = threading.Event(), threading.Event()
        first_reply_at = [0.0]

        def note_first_reply(_message: dict) -> None:
            if not answered.is_set():
                first_reply_at[0] = time.perf_counter()
                answered.set()

        client.on("session_confirm", lambda _id: confirmed.set())
        client.on("bot_uttered", note_first_reply)
        client.connect(base_url, transports=["websocket"], wait_timeout=30)
        client.emit("session_request", {"session_id": None})
        confirmed.wait(30)

        def say(text: str) -> float | bool:
            answered.clear()
            started = time.perf_counter()
            ack = client.call("user_uttered", {"message": text}, timeout=60)
            if not answered.wait(5) or not (ack or {}).get("ok"):
                return False
            return first_reply_at[0] - started

        say.close = client.disconnect  # type: ignore[attr-defined]
        return say
    return open_conversation


def _new_number() -> str:
    return f"+1312555{random.randint(0, 9999):04d}"


def sms_conversations(base_url: str) -> Opener:
    from xml.etree import ElementTree

    def open_conversation() -> Callable[[str], bool]:
        phone = _new_number()

        def text(body: str) -> bool:
            answer = signed_post(base_url, "/webhooks/twilio_sms/webhook",
                                 sms_params(phone, body, f"SM{uuid.uuid4().hex}"))
            return answer.status_code == 200 and ElementTree.fromstring(answer.text).find(
                "Message") is not None
        return text
    return open_conversation


def voice_calls(base_url: str) -> Opener:
    from xml.etree import ElementTree

    def open_conversation() -> Callable[[str], bool]:
        form = {"CallSid": f"CA{uuid.uuid4().hex}", "From": _new_number(), "To": "+15550104400"}

        def turn(speech: str) -> bool:
            path = "/webhooks/twilio_voice/webhook"
            params = dict(form)
            if speech:
                path += "?step=answer"
                params["SpeechResult"] = speech
            answer = signed_post(base_url, path, params)
            return answer.status_code == 200 and ElementTree.fromstring(answer.text).find(
                ".//Say") is not None
        return turn
    return open_conversation


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _drive(open_conversation: Opener, conversation: list[str] | Callable[[], list[str]],
           concurrency: int, per_worker: int) -> dict:
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()

    def worker() -> None:
        nonlocal failures
        for _ in range(per_worker):
            send_one = open_conversation()
            for text in conversation() if callable(conversation) else conversation:
                started = time.perf_counter()
                try:
                    ok = send_one(text)
                except (OSError, ValueError, SyntaxError):  # network, bad JSON, bad TwiML
                    ok = False
                elapsed = time.perf_counter() - started
                if isinstance(ok, float):  # the opener timed the part that counts itself
                    elapsed, ok = ok, True
                with lock:
                    latencies.append(elapsed)
                    failures += 0 if ok else 1
            if hasattr(send_one, "close"):
                send_one.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    ordered = sorted(latencies)

    def percentile(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000

    return {
        "concurrency": concurrency, "messages": len(latencies), "failures": failures,
        "p50_ms": percentile(50), "p95_ms": percentile(95), "p99_ms": percentile(99),
        "mean_ms": statistics.fmean(latencies) * 1000, "messages_per_s": len(latencies) / wall,
    }


def _measure(name: str, open_conversation: Opener,
             conversation: list[str] | Callable[[], list[str]], pid: int, scale: int) -> list[dict]:
    _drive(open_conversation, conversation, concurrency=2, per_worker=2)  # warm-up
    rows = []
    for concurrency, per_worker in ((1, 3 * scale), (10, scale)):
        row = _drive(open_conversation, conversation, concurrency, per_worker)
        row["system"] = name
        rows.append(row)
    for row in rows:
        row["rasa_peak_rss_mb"] = _peak_rss_mb(pid)
    return rows


FLOOD_MESSAGE_BYTES = 100_000


def under_flood(base_url: str, scale: int) -> dict:
    """Normal conversations at concurrency 1 while another client keeps sending 100 KB
    messages: what one abusive client costs everyone else."""
    from scripts.rest_client import post

    body = json.dumps({"message": "a" * FLOOD_MESSAGE_BYTES}).encode()
    stop = threading.Event()
    statuses: list[int] = []

    def flood() -> None:
        while not stop.is_set():
            statuses.append(post(base_url, None, raw=body, timeout_s=60).status)

    flooder = threading.Thread(target=flood, daemon=True)
    flooder.start()
    try:
        row = _drive(rest_conversations(base_url), ASSISTANT_CONVERSATION, 1, 3 * scale)
    finally:
        stop.set()
        flooder.join(timeout=60)
    row.update(system="rest+flood", flood_requests=len(statuses),
               flood_statuses=sorted(set(statuses)))
    return row


def _ensure_baseline(env: dict[str, str]) -> Path:
    models = list(BASELINE_DIR.glob("models/*.tar.gz"))
    if models:
        return max(models)
    print("Generating and training the baseline (`rasa init`, about 2 minutes)...", flush=True)
    BASELINE_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [str(VENV_BIN / "rasa"), "init", "--no-prompt", "--init-dir", str(BASELINE_DIR)],
        cwd=BASELINE_DIR, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return max(BASELINE_DIR.glob("models/*.tar.gz"))


def encoder_cpu_ms() -> float:
    """Median CPU time of one sentence-encoder call on the bench's own messages.

    CPU time rather than wall time, so a busy machine does not inflate it. The encoder runs
    only for messages the n-gram blend is unsure of (config.yml), so this is its cost per
    message that reaches it, not per message.
    """
    from bot.nlu.sentence_encoder import default_encoder

    encoder = default_encoder()
    texts = sorted({text for text in [*ASSISTANT_CONVERSATION, *VOICE_CALL] if text.strip()})
    encoder.encode(texts)  # first calls pay for allocation
    timings = []
    for repetition in range(5):
        for text in texts:
            # A text never seen before: the encoder keeps the vectors of recent texts, and a
            # repeat would time the cache, not the model.
            started = time.process_time()
            encoder.encode([f"{text} ({repetition})"])
            timings.append(time.process_time() - started)
    return 1000 * statistics.median(timings)


def crisis_net_timing(repetitions: int = 7) -> dict[str, float]:
    """Median wall time of the crisis net (folding and every pattern, both languages) on a
    5,000-character and a 100 KB message, ordinary and adversarial, printed and returned.

    For contrast, the pre-RE2 net's `has a gun ... kill` pattern on Python's `re`: quadratic
    on the adversarial message, so only its 5,000-character case is run (100 KB would take
    about 400 times as long).
    """
    import re

    from bot.safety.crisis import CrisisDetector

    detector = CrisisDetector.from_file(load_settings().crisis_patterns_path)
    old_pattern = re.compile(r"\bhas\s+a\s+(?:gun|knife)\b.*\b(?:threat|kill|hurt)",
                             re.IGNORECASE)
    messages = {
        "ordinary": lambda size: ("I need help for my son, what does it cost? " * size)[:size],
        "adversarial": lambda size: ("has a gun " * size)[:size],
    }

    def median_ms(check: Callable[[str], object], text: str) -> float:
        timings = []
        for _ in range(repetitions):
            started = time.perf_counter()
            check(text)
            timings.append(time.perf_counter() - started)
        return 1000 * statistics.median(timings)

    detector.detect("warm up")
    figures = {}
    for kind, make in messages.items():
        for size in (5_000, 100_000):
            figures[f"{kind}_{size}"] = median_ms(detector.detect, make(size))
    figures["old_re_adversarial_5000"] = median_ms(old_pattern.search,
                                                   messages["adversarial"](5_000))
    print("crisis net, median ms: " + ", ".join(f"{k} {v:.1f}" for k, v in figures.items()),
          flush=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=int, default=4,
                        help="conversations per worker at concurrency 10 (x3 at concurrency 1)")
    args = parser.parse_args()
    RESULTS_DIR.mkdir(exist_ok=True)
    settings = dataclasses.replace(
        load_settings().with_var_dir(RESULTS_DIR / "var"), rasa_port=free_port(),
        actions_port=free_port(),
    )
    env = stack_environment(settings)
    baseline_model = _ensure_baseline(env)

    rows: list[dict] = []
    encoder_ms = encoder_cpu_ms()
    crisis_net_timing()
    print("Starting the assistant...", flush=True)
    with FakeTwilioApi() as twilio_api, Stack(
            settings, log_path=RESULTS_DIR / "assistant.log",
            extra_env={**twilio_environment(twilio_api, settings.var_dir), **NO_RATE_LIMITS},
            with_console=True,
    ) as stack:
        rasa_pid = stack.processes[1].pid
        rest = rest_conversations(stack.rasa_url)
        rows += _measure("assistant", rest, ASSISTANT_CONVERSATION, rasa_pid, args.scale)
        # The chat widget's channel, right after REST, on the same conversations.
        rows += _measure("socketio", socket_conversations(stack.rasa_url),
                         ASSISTANT_CONVERSATION, rasa_pid, args.scale)
        flooded = under_flood(stack.rasa_url, args.scale)
        flooded["rasa_peak_rss_mb"] = _peak_rss_mb(rasa_pid)
        # Measured apart, so the FAQ figures stay comparable with the baseline's.
        rows += _measure("prescreen", rest, prescreen_conversation, rasa_pid,
                         max(1, args.scale // 2))
        rows += _measure("sms", sms_conversations(stack.rasa_url), ASSISTANT_CONVERSATION,
                         rasa_pid, args.scale)
        rows += _measure("voice", voice_calls(stack.rasa_url), ["", *VOICE_CALL], rasa_pid,
                         args.scale)
        actions_rss = _peak_rss_mb(stack.processes[0].pid)
        console = console_timing(stack.rasa_url, stack.staff_url, settings.database_url)
        console_rss = _peak_rss_mb(stack.processes[2].pid)
        rasa_rss = _peak_rss_mb(rasa_pid)

    print("Starting the baseline...", flush=True)
    port = free_port()
    with open(RESULTS_DIR / "baseline.log", "ab") as log:
        baseline = subprocess.Popen(
            [str(VENV_BIN / "rasa"), "run", "--model", str(baseline_model), "--port", str(port)],
            cwd=BASELINE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            wait_until_up(f"http://127.0.0.1:{port}/", 240, baseline)
            rows += _measure("baseline", rest_conversations(f"http://127.0.0.1:{port}"),
                             BASELINE_CONVERSATION, baseline.pid, args.scale)
        finally:
            baseline.terminate()
            baseline.wait(timeout=30)

    print(f"\n{'system':10} {'conc':>4} {'msgs':>5} {'fail':>4} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'p99 ms':>7} {'msg/s':>6} {'peak RSS MB':>11}")
    for r in rows:
        print(f"{r['system']:10} {r['concurrency']:4d} {r['messages']:5d} {r['failures']:4d} "
              f"{r['p50_ms']:7.1f} {r['p95_ms']:7.1f} {r['p99_ms']:7.1f} "
              f"{r['messages_per_s']:6.1f} {r['rasa_peak_rss_mb']:11.0f}")
    ours = {r["concurrency"]: r for r in rows if r["system"] == "assistant"}
    base = {r["concurrency"]: r for r in rows if r["system"] == "baseline"}
    ratio = ours[10]["messages_per_s"] / base[10]["messages_per_s"]
    prescreen = {r["concurrency"]: r for r in rows if r["system"] == "prescreen"}
    together = rasa_rss + actions_rss + console_rss
    print(f"\npeak RSS: Rasa {rasa_rss:.0f} MB, action server {actions_rss:.0f} MB (target < "
          f"{ACTIONS_RSS_TARGET_MB} MB), staff console {console_rss:.0f} MB; together "
          f"{together:.0f} MB (target < {TOGETHER_RSS_TARGET_MB} MB)")
    print(f"pre-screen (database writes included) p95 at concurrency 1: "
          f"{prescreen[1]['p95_ms']:.1f} ms, at 10: {prescreen[10]['p95_ms']:.1f} ms")
    sms = {r["concurrency"]: r for r in rows if r["system"] == "sms"}
    voice = {r["concurrency"]: r for r in rows if r["system"] == "voice"}
    print(f"SMS webhook p99 at 10 concurrent conversations: {sms[10]['p99_ms']:.1f} ms "
          f"(target < {SMS_P99_TARGET_MS} ms); voice turn p95 at 1: {voice[1]['p95_ms']:.1f} ms, "
          f"at 10: {voice[10]['p95_ms']:.1f} ms")
    print(f"REST p95 at concurrency 1 while another client sends {FLOOD_MESSAGE_BYTES // 1000} KB "
          f"messages: {flooded['p95_ms']:.1f} ms (without: {ours[1]['p95_ms']:.1f} ms); "
          f"{flooded['flood_requests']} flood requests answered {flooded['flood_statuses']}")
    print(f"sentence encoder: {encoder_ms:.1f} ms of CPU for each message it is asked about "
          f"(median, one thread; only messages the n-grams are unsure of reach it)")
    chat = {r["concurrency"]: r for r in rows if r["system"] == "socketio"}
    socket_ratios = {c: chat[c]["p95_ms"] / ours[c]["p95_ms"] for c in (1, 10)}
    print(f"chat widget (socket.io, emit to first bot_uttered) p95 vs REST p95: "
          f"{socket_ratios[1]:.2f}x at concurrency 1, {socket_ratios[10]:.2f}x at 10 "
          f"(target <= {SOCKET_P95_RATIO_TARGET}x)")
    widget = describe_bundle()
    print(f"chat widget bundle: {widget['bytes'] / 1024:.1f} KB, "
          f"{widget['gzipped_bytes'] / 1024:.1f} KB gzipped (of which the socket.io client "
          f"{widget['vendored_client_gzipped_bytes'] / 1024:.1f} KB)")
    queue, reply = console["handoff_to_queue"], console["reply_to_widget"]
    print(f"staff console: a visitor's request to a counselor's open queue page, median "
          f"{queue['median_ms']:.0f} ms, p95 {queue['p95_ms']:.0f} ms (target p95 < "
          f"{QUEUE_P95_TARGET_MS} ms); a counselor's reply to the chat widget, median "
          f"{reply['median_ms']:.0f} ms, p95 {reply['p95_ms']:.0f} ms "
          f"({console['repetitions']})")
    print(f"p95 at concurrency 1: {ours[1]['p95_ms']:.1f} ms (target <= {P95_TARGET_MS} ms)")
    print(f"throughput at concurrency 10 vs baseline: {ratio:.2f}x "
          f"(target >= {THROUGHPUT_RATIO_TARGET}x)")
    summary = {"rows": rows, "under_flood": flooded, "throughput_ratio_c10": ratio,
               "socketio_p95_vs_rest": socket_ratios, "widget_bundle": widget,
               "actions_peak_rss_mb": actions_rss, "console_peak_rss_mb": console_rss,
               "staff_console": console,
               "encoder_cpu_ms_per_message": encoder_ms,
               "machine_cores": os.cpu_count()}
    (RESULTS_DIR / "bench.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    meets = (ours[1]["p95_ms"] <= P95_TARGET_MS and ratio >= THROUGHPUT_RATIO_TARGET
             and sms[10]["p99_ms"] < SMS_P99_TARGET_MS
             and max(socket_ratios.values()) <= SOCKET_P95_RATIO_TARGET
             and queue["p95_ms"] < QUEUE_P95_TARGET_MS
             and actions_rss < ACTIONS_RSS_TARGET_MB and together < TOGETHER_RSS_TARGET_MB)
    print("targets met" if meets else "TARGETS NOT MET")
    return 0


if __name__ == "__main__":
    sys.exit(main())
