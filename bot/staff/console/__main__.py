"""Serves the staff console on STAFF_HOST:STAFF_PORT (loopback by default) until stopped."""
from __future__ import annotations

import logging

from bot.server_process import prepare_server_process


def main() -> None:
    prepare_server_process()
    import uvicorn

    from bot.settings import load_settings
    from bot.staff.console.app import create_app

    settings = load_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s  "
                        "%(message)s")
    # No access log: a request line carries search terms (names, phone numbers) in its query.
    uvicorn.run(create_app(settings), host=settings.staff_host, port=settings.staff_port,
                access_log=False, log_config=None, server_header=False,
                proxy_headers=False, timeout_graceful_shutdown=3)


if __name__ == "__main__":
    main()
