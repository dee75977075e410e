"""The Rasa server loads DIET and the ResponseSelector without training them on one example
(connectors/rasa_server.py, 700 MB less at its peak). What a visitor would notice if that went
wrong is the wrong answer: the wrong intent, or the wrong FAQ topic. So the trained model is
loaded both ways, each in a process of its own, and every message must be read the same.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from scripts.stack import MODEL_PATH, THREAD_LIMITS

pytestmark = pytest.mark.stack

MESSAGES = [
    "how much does it cost", "do you take insurance", "wat is iop", "hw much",
    "i want to talk to a person", "is it confidential", "can my family be involved",
    "blorp zint vackle", "where are you located", "do you do drug testing",
    "my son drinks every day", "I'm ready to get started", "¿aceptan seguro médico?",
    "<script>alert(1)</script>", "what are your hours on saturday",
]

READ_MESSAGES = """
import asyncio, json, sys
if sys.argv[1] == "ours":
    from connectors.rasa_server import load_models_for_inference_only
    load_models_for_inference_only()
from rasa.core.agent import Agent

agent = Agent.load(sys.argv[2])

async def read_all():
    readings = []
    for text in json.loads(sys.argv[3]):
        parsed = await agent.parse_message(text)
        faq = parsed.get("response_selector", {}).get("faq", {}).get("response", {})
        readings.append([text, parsed["intent"]["name"], round(parsed["intent"]["confidence"], 3),
                         faq.get("intent_response_key"), round(faq.get("confidence") or 0, 3)])
    return readings

print("READINGS " + json.dumps(asyncio.run(read_all())))
"""


def read_messages(loading: str) -> list[list]:
    done = subprocess.run(
        [sys.executable, "-c", READ_MESSAGES, loading, str(MODEL_PATH), json.dumps(MESSAGES)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, **THREAD_LIMITS, "RASA_TELEMETRY_ENABLED": "false",
             "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-2000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("READINGS "))
    return json.loads(line[len("READINGS "):])


def test_the_server_reads_every_message_as_rasas_own_loading_does():
    if not MODEL_PATH.exists():
        pytest.fail(f"no trained model at {MODEL_PATH}; run `make train`")
    ours = read_messages("ours")
    assert ours == read_messages("rasa")
    # Not a model that reads everything one way: the readings differ from message to message.
    assert len({reading[3] for reading in ours}) > 5
