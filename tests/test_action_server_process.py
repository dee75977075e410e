"""The action server's process: its actions and extraction work with TensorFlow kept out."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from bot.settings import PROJECT_ROOT

# What bot.actions.server's main() does before anything else, then every action module loaded
# as rasa_sdk loads them, then the pre-screen's extraction run.
ACTION_SERVER_IMPORTS = """
import json, sys
from bot.actions.server import keep_tensorflow_out
keep_tensorflow_out()
from rasa_sdk.executor import ActionExecutor
executor = ActionExecutor()
executor.register_package("bot.actions")
from bot.prescreen.extraction import insurer_in, substances_in
print(json.dumps({
    "actions": len(executor.actions),
    "substances": substances_in("mostly booze and some xanax"),
    "insurer": insurer_in("he has BCBS"),
    "tensorflow": sys.modules.get("tensorflow") is not None,
}))
"""


def test_the_actions_load_and_extract_with_tensorflow_kept_out():
    done = subprocess.run([sys.executable, "-c", ACTION_SERVER_IMPORTS], cwd=PROJECT_ROOT,
                          env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["actions"] > 10
    assert found["substances"] == ["alcohol", "benzodiazepines"]
    assert found["insurer"] == "Blue Cross Blue Shield"
    assert found["tensorflow"] is False
