"""`make chat`: a conversation in the terminal over the REST channel.

Uses the server `make run` started; if none is answering, starts one for this chat.
"""
from __future__ import annotations

import sys
import urllib.error
import urllib.request

from bot.settings import load_settings
from scripts.rest_client import WebsiteConversation, texts
from scripts.stack import Stack


def _is_up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _replies(conversation: WebsiteConversation, line: str) -> list[str]:
    """What the assistant said, also when it refused the message (too long, too fast): those
    answers carry a kind reply of their own."""
    try:
        return conversation.texts(line)
    except RuntimeError:
        answer = conversation.answers[-1]
        if isinstance(answer.body, list):
            return texts(answer.body)
        return [f"(the server answered {answer.status}: {answer.body})"]


def main() -> int:
    settings = load_settings()
    # A stack started just for this chat logs to a file, not over the conversation.
    stack = Stack(settings, log_path=settings.var_dir / "chat-stack.log")
    started_here = False
    if not _is_up(f"{stack.rasa_url}/"):
        print("No assistant is running; starting one for this chat (about a minute)...")
        stack.start()
        started_here = True
    conversation = WebsiteConversation(stack.rasa_url)
    print("Type a message and press Enter. Ctrl-D or /quit to leave.\n")
    try:
        while True:
            try:
                line = input("you> ")
            except EOFError:
                break
            if line.strip() == "/quit":
                break
            for text in _replies(conversation, line):
                print(f"bot> {text}")
    except KeyboardInterrupt:
        pass
    finally:
        if started_here:
            stack.stop()
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
