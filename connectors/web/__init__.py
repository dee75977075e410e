"""The chat widget's files, served by the website chat channel (connectors/website_chat.py).

GET /webhooks/website/widget.js   the whole widget in one file: the vendored socket.io client,
                                  the widget's words and styles, and its code
GET /webhooks/website/sample      a sample page of the center with the widget on it

One `<script src=".../widget.js" data-...>` tag adds the chat to any page. The bundle is built
once per process from files in this folder, the facility profile and the domain's disclosure,
and sent gzipped to browsers that accept it. It sets no cookie and loads nothing else.
"""
from __future__ import annotations

import gzip
import hashlib
import html
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.facility import readable_profile
from bot.settings import load_settings
from connectors.replies import channel_reply, profile_slots

WEB_DIR = Path(__file__).resolve().parent
VENDORED_CLIENT = WEB_DIR / "vendor" / "socket.io.min.js"
# socket.io-client 4.8.4, dist/socket.io.min.js (vendor/README.md says how to update it).
VENDORED_SHA256 = "d5d79a35039e860b32bdef4795528b05c2f788d4b2d9dacc913120e2878f7b3f"
CHANNEL = "website"
# Pages the widget is embedded in are other sites: any of them may load the script.
SCRIPT_HEADERS = {
    "Cache-Control": "public, max-age=300",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "cross-origin",
    "Vary": "Accept-Encoding",
}
# The sample page loads only what this server serves; the widget's socket goes back to it.
SAMPLE_PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                   "connect-src 'self'; base-uri 'none'; form-action 'none'; "
                   "frame-ancestors 'none'")


@dataclass(frozen=True)
class Bundle:
    body: bytes
    gzipped: bytes
    etag: str


def widget_copy() -> dict[str, dict[str, str]]:
    """Every language's widget words, filled from the facility profile (or, while it cannot
    be read, from that language's stand-in words, so the chat and its crisis line still
    load)."""
    copies: dict[str, dict[str, str]] = {}
    for path in sorted((WEB_DIR / "copy").glob("*.yml")):
        words = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        values = profile_slots(path.stem)
        copies[path.stem] = {key: _fill(str(text), values) for key, text in words.items()}
    return copies


def _fill(text: str, values: dict[str, str]) -> str:
    # Only the profile's {facility_*} values: {name}, {position}... are the widget's to fill.
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def widget_bundle() -> Bundle:
    # Built once with the profile's values; a bundle with stand-in words is replaced as soon
    # as the profile can be read again.
    return _bundle(profile_readable=readable_profile(load_settings().facility_profile_path)
                   is not None)


@lru_cache(maxsize=2)
def _bundle(profile_readable: bool) -> Bundle:
    client = VENDORED_CLIENT.read_bytes()
    if hashlib.sha256(client).hexdigest() != VENDORED_SHA256:
        raise RuntimeError(f"{VENDORED_CLIENT} is not the vendored socket.io client")
    copies = widget_copy()
    config = {
        "copy": copies,
        # The chat opens with the domain's disclosure: an automated assistant, not a person.
        "disclosure": {language: channel_reply("utter_disclosure", CHANNEL, language)["text"]
                       for language in copies},
        "css": (WEB_DIR / "widget.css").read_text(encoding="utf-8"),
    }
    code = (WEB_DIR / "widget.js").read_text(encoding="utf-8")
    # The client's UMD wrapper sees a CommonJS `module` and hands its `io` to us, not to a
    # global or to the page's own AMD loader. "</" never closes anything in a script file,
    # but is escaped in the JSON anyway.
    bundle = ("(function () {\n\"use strict\";\nvar module = { exports: {} };\n"
              "var exports = module.exports;\n" + client.decode("utf-8") + "\n"
              "var io = module.exports;\n"
              "var WIDGET_CONFIG = " + json.dumps(config).replace("</", "<\\/") + ";\n"
              + code + "\n})();\n")
    body = bundle.encode("utf-8")
    return Bundle(body, gzip.compress(body, 9, mtime=0),
                  '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def sample_page() -> str | None:
    """A page of the sample center, with the widget on it the way a center adds it; None
    while the profile cannot be read, since the page is all the center's details."""
    profile = readable_profile(load_settings().facility_profile_path)
    if profile is None:
        return None
    name, phone = html.escape(profile.name), html.escape(profile.helpline_phone)
    hours = html.escape(profile.hours_summary())
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{name}: outpatient addiction treatment</title>
<link rel="stylesheet" href="sample.css">
</head>
<body>
<header><p class="brand">{name}</p></header>
<main>
<h1>Intensive outpatient treatment for alcohol and drug use</h1>
<p>This is a sample page, showing the admissions chat the way a center adds it to its own
site. Open the chat at the bottom right of the page.</p>
<p>Admissions: call <a href="tel:{phone}">{phone}</a> ({hours}).</p>
<p>If you are in danger, call 911. If you are thinking about suicide, call or text 988.</p>
</main>
<script src="widget.js" data-launcher-text="Chat with us" data-accent="#1d5c87" defer></script>
</body>
</html>
"""


SAMPLE_CSS = """body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b;line-height:1.5}
header{background:#1d5c87;color:#fff;padding:.75rem 1.5rem}.brand{margin:0;font-weight:700}
main{max-width:42rem;padding:1rem 1.5rem 8rem}a{color:#1d5c87}
"""


def widget_routes(blueprint: Blueprint) -> None:
    """Adds the widget's files to the channel's blueprint (/webhooks/website/...)."""

    @blueprint.route("/widget.js", methods=["GET"])
    async def widget_js(request: Request) -> HTTPResponse:
        bundle = widget_bundle()
        headers = {**SCRIPT_HEADERS, "ETag": bundle.etag}
        if request.headers.get("If-None-Match") == bundle.etag:
            return response.empty(status=304, headers=headers)
        accepts_gzip = "gzip" in request.headers.get("Accept-Encoding", "")
        if accepts_gzip:
            headers["Content-Encoding"] = "gzip"
        return response.raw(bundle.gzipped if accepts_gzip else bundle.body, headers=headers,
                            content_type="application/javascript; charset=utf-8")

    @blueprint.route("/sample", methods=["GET"])
    async def sample(_: Request) -> HTTPResponse:
        headers = {"Content-Security-Policy": SAMPLE_PAGE_CSP, "X-Content-Type-Options": "nosniff",
                   "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
        page = sample_page()
        if page is None:
            return response.text("The sample page is unavailable: the facility profile cannot "
                                 "be read. Run `python -m bot.facility_check` to see why.",
                                 status=503, headers=headers)
        return response.html(page, headers=headers)

    @blueprint.route("/sample.css", methods=["GET"])
    async def sample_css(_: Request) -> HTTPResponse:
        return response.text(SAMPLE_CSS, content_type="text/css; charset=utf-8",
                             headers={"X-Content-Type-Options": "nosniff"})


def describe_bundle() -> dict[str, Any]:
    """Sizes the bench prints."""
    bundle = widget_bundle()
    return {"bytes": len(bundle.body), "gzipped_bytes": len(bundle.gzipped),
            "vendored_client_gzipped_bytes": len(gzip.compress(VENDORED_CLIENT.read_bytes(), 9))}
