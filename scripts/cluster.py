"""The production profile on one machine: `make run-cluster`, its tests and `make soak`.

Two Rasa instances, each with its own action server, behind HAProxy (deploy/haproxy.cfg),
sharing PostgreSQL (conversations and leads), Redis (per-conversation locks, and the chat's
live messages between instances) and RabbitMQ (the event stream, counted by the funnel
consumer for the console's metrics); the staff console reaches them through the load balancer.
Each instance is started exactly as `make run` starts one (scripts/stack.py), on
endpoints-cluster.yml.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import parse_qs, unquote, urlsplit

from bot.local_secrets import ensure_private_dir, rasa_api_token
from bot.settings import PROJECT_ROOT, Settings, load_settings
from scripts.serve import console_status
from scripts.stack import MODEL_PATH, Stack, free_port, stack_environment, wait_until_up

HAPROXY_CONFIG = PROJECT_ROOT / "deploy" / "haproxy.cfg"
INSTANCE_NAMES = ("a", "b")
# Connections each Rasa instance keeps to PostgreSQL for conversations, and how many more a
# burst may open. With the leads pools (5 + 5 in each Rasa, action server, the console and
# the consumer) two instances reach 100, PostgreSQL's default max_connections, only if every
# pool bursts at once. The conversation store does its database work on as many threads as
# the pool holds (bot/conversation_store.py), one session each, so it never opens more than
# the pool: the overflow is a margin, not something a busy instance relies on.
TRACKER_POOL_SIZE = 10
TRACKER_MAX_OVERFLOW = 10
# `make run-cluster` starts again a process that exits, but not forever: one that keeps
# exiting has a cause a restart will not fix.
MAX_RESTARTS_IN_WINDOW = 5
RESTART_WINDOW_S = 600.0


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists()
                                        else None)
    if not found:
        raise FileNotFoundError("HAProxy is not installed: `make run-cluster` installs it "
                                "(Debian's haproxy package)")
    return found


def ensure_postgres_database(url: str) -> None:
    """Creates the database a URL names if the server does not have it yet."""
    from sqlalchemy import create_engine, text

    name = unquote(urlsplit(url).path.lstrip("/"))
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    admin = create_engine(admin_url, future=True, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                        {"n": name}).first()
            if not exists:
                # A name cannot be a bound parameter; quoted, with quotes doubled.
                connection.execute(text('CREATE DATABASE "{}"'.format(name.replace('"', '""'))))
    finally:
        admin.dispose()


def ensure_tracker_tables(url: str) -> None:
    """Creates Rasa's conversation tables before the instances start: two instances creating
    them at once on an empty database collide (one gets an IntegrityError)."""
    from rasa.core.tracker_store import SQLTrackerStore
    from sqlalchemy import create_engine

    engine = create_engine(url, future=True)
    try:
        SQLTrackerStore.Base.metadata.create_all(engine)
    finally:
        engine.dispose()


def tracker_store_environment(url: str) -> dict[str, str]:
    """endpoints-cluster.yml's tracker store variables, from one PostgreSQL URL."""
    parts = urlsplit(url)
    return {
        "TRACKER_DB_HOST": parts.hostname or "127.0.0.1",
        "TRACKER_DB_PORT": str(parts.port or 5432),
        "TRACKER_DB_NAME": unquote(parts.path.lstrip("/")),
        "TRACKER_DB_USER": unquote(parts.username or "postgres"),
        "TRACKER_DB_PASSWORD": unquote(parts.password or ""),
        "TRACKER_DB_SSLMODE": parse_qs(parts.query).get("sslmode", ["prefer"])[-1],
        "POSTGRESQL_POOL_SIZE": str(TRACKER_POOL_SIZE),
        "POSTGRESQL_MAX_OVERFLOW": str(TRACKER_MAX_OVERFLOW),
    }


def rabbitmq_environment(url: str) -> dict[str, str]:
    """endpoints-cluster.yml's event broker variables, from one amqp:// URL."""
    parts = urlsplit(url)
    hostname = parts.hostname or "127.0.0.1"
    port = parts.port or 5672
    # Rasa's broker takes a vhost only inside an amqp:// host; the default one by name.
    host = (f"amqp://{hostname}:{port}{parts.path}" if parts.path not in ("", "/")
            else hostname)
    return {"RABBITMQ_URL": url, "RABBITMQ_HOST": host, "RABBITMQ_PORT": str(port),
            "RABBITMQ_USER": unquote(parts.username or "guest"),
            "RABBITMQ_PASSWORD": unquote(parts.password or "guest")}


@dataclass
class Cluster:
    settings: Settings
    model_path: Path = MODEL_PATH
    log_path: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    # Rasa's endpoints for every instance (a test swaps in Rasa's own lock store).
    endpoints: str = "endpoints-cluster.yml"
    instances: dict[str, Stack] = field(default_factory=dict)
    console: subprocess.Popen | None = None
    funnel_consumer: subprocess.Popen | None = None
    balancer: subprocess.Popen | None = None
    _log_file: IO[bytes] | None = None

    @property
    def url(self) -> str:
        """The load balancer: the one address people and the console use."""
        return f"http://127.0.0.1:{self.settings.cluster_port}"

    @property
    def api_url(self) -> str:
        """The load balancer's loopback door, where Rasa's HTTP API is served too (the
        console's, and an operator's)."""
        return f"http://127.0.0.1:{self.settings.cluster_api_port}"

    @property
    def staff_url(self) -> str:
        return self.settings.staff_url

    @property
    def api_token(self) -> str:
        return rasa_api_token(self.settings)

    def shared_environment(self) -> dict[str, str]:
        if not self.settings.redis_url:
            raise ValueError("REDIS_URL is not set: the cluster's locks and live messages "
                             "need Redis (see .env.example)")
        if not self.settings.rabbitmq_url:
            raise ValueError("RABBITMQ_URL is not set: the cluster's event stream needs "
                             "RabbitMQ (see .env.example)")
        return {**tracker_store_environment(self.settings.cluster_tracker_url),
                **rabbitmq_environment(self.settings.rabbitmq_url),
                "FUNNEL_EXCHANGE": self.settings.funnel_exchange,
                "FUNNEL_QUEUE": self.settings.funnel_queue,
                "REDIS_URL": self.settings.redis_url,
                # Set by deploy/haproxy.cfg to the visitor's address: without it, every
                # visitor would share the load balancer's address and its rate limit.
                "CLIENT_IP_HEADER": "X-Forwarded-For",
                "DATABASE_URL": self.settings.cluster_leads_url,
                **self.extra_env}

    def start(self, timeout_s: float = 300, wait_for_funnel: bool = True) -> Cluster:
        """wait_for_funnel=False: up without waiting for the funnel consumer's RabbitMQ
        (`make run-cluster`: conversations never need it; the tests and soak count on it)."""
        from bot.leads.database import engine_for, ensure_schema

        ensure_private_dir(self.settings.var_dir)
        ensure_postgres_database(self.settings.cluster_tracker_url)
        ensure_tracker_tables(self.settings.cluster_tracker_url)
        ensure_postgres_database(self.settings.cluster_leads_url)
        leads = engine_for(self.settings.cluster_leads_url)
        ensure_schema(leads)
        leads.dispose()
        shared = self.shared_environment()
        if self.log_path:
            self._log_file = os.fdopen(os.open(self.log_path, os.O_WRONLY | os.O_CREAT
                                               | os.O_APPEND, 0o600), "ab")
        for name in INSTANCE_NAMES:
            # One var/ for all: the API token, the action token and the key that signs
            # website conversation ids must be the same on every instance. The spool is each
            # instance's own (bot/leads/spool.py); every instance drains the others' too, so
            # a lead spooled by an instance that is down still lands.
            # On loopback whatever RASA_HOST says: only HAProxy may reach an instance, or its
            # whole HTTP API would be open beside the load balancer's filter.
            instance_settings = dataclasses.replace(
                self.settings, rasa_port=free_port(), actions_port=free_port(),
                rasa_host="127.0.0.1", actions_host="127.0.0.1",
                database_url=self.settings.cluster_leads_url,
                lead_spool_dir=self.settings.var_dir / f"lead-spool-{name}")
            self.instances[name] = Stack(
                instance_settings, model_path=self.model_path, log_path=self.log_path,
                endpoints=self.endpoints,
                extra_env={**shared, "LEAD_SPOOL_DIR": str(instance_settings.lead_spool_dir),
                           "LEAD_SPOOL_PEERS": str(self.settings.var_dir / "lead-spool-*"),
                           "CLUSTER_INSTANCE": name})
        try:
            # Both instances load their models at the same time.
            with concurrent.futures.ThreadPoolExecutor(len(self.instances)) as pool:
                for started in [pool.submit(stack.start, timeout_s)
                                for stack in self.instances.values()]:
                    started.result()
            self._start_balancer()
            self._start_console()
            self._start_funnel_consumer()
            wait_until_up(f"{self.url}/", 30, self.balancer)
            wait_until_up(f"{self.staff_url}/health", timeout_s, self.console)
            if wait_for_funnel:
                wait_until_up(self.funnel_health_url, timeout_s, self.funnel_consumer)
        except BaseException:
            self.stop()
            raise
        return self

    def _output(self) -> dict:
        return ({"stdout": self._log_file, "stderr": subprocess.STDOUT} if self._log_file
                else {})

    def _start_balancer(self) -> None:
        env = {**os.environ, "CLUSTER_BIND": self.settings.cluster_host,
               "CLUSTER_PORT": str(self.settings.cluster_port),
               "CLUSTER_API_PORT": str(self.settings.cluster_api_port),
               "RASA_A_PORT": str(self.instances["a"].settings.rasa_port),
               "RASA_B_PORT": str(self.instances["b"].settings.rasa_port)}
        # -db: in the foreground, so it stops with the cluster.
        self.balancer = subprocess.Popen([haproxy_binary(), "-db", "-f", str(HAPROXY_CONFIG)],
                                         env=env, **self._output())

    def _start_console(self) -> None:
        env = {**stack_environment(self.settings, self.shared_environment()),
               "RASA_HOST": "127.0.0.1", "RASA_PORT": str(self.settings.cluster_api_port),
               "RASA_API_TOKEN": self.api_token,
               "STAFF_PORT": str(self.settings.staff_port),
               "STAFF_HOST": self.settings.staff_host}
        self.console = subprocess.Popen([sys.executable, "-m", "bot.staff.console"],
                                        cwd=PROJECT_ROOT, env=env, **self._output())

    @property
    def funnel_health_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.funnel_health_port}/health"

    def _start_funnel_consumer(self) -> None:
        env = {**stack_environment(self.settings, self.shared_environment()),
               "FUNNEL_HEALTH_PORT": str(self.settings.funnel_health_port),
               "FUNNEL_HEALTH_HOST": "127.0.0.1"}
        self.funnel_consumer = subprocess.Popen(
            [sys.executable, "-m", "bot.funnel.consumer"], cwd=PROJECT_ROOT, env=env,
            **self._output())

    def processes(self) -> list[subprocess.Popen]:
        found = [process for stack in self.instances.values() for process in stack.processes]
        return found + [process for process in (self.console, self.funnel_consumer,
                                                self.balancer) if process]

    def any_exited(self) -> bool:
        return any(process.poll() is not None for process in self.processes())

    def restart_exited(self, timeout_s: float = 300) -> list[str]:
        """Starts again whatever has exited, and names it. Meanwhile HAProxy's health checks
        send every turn to the instance still up; a restarted instance takes conversations
        back with their state, which is in PostgreSQL, not in the process."""
        restarted = []
        for name, stack in self.instances.items():
            if stack.any_exited():
                # Both of the pair: a Rasa without its action server cannot finish a turn.
                stack.stop()
                stack.processes.clear()
                stack.start(timeout_s)
                restarted.append(f"instance {name}")
        members = (("the load balancer", "balancer", self._start_balancer),
                   ("the staff console", "console", self._start_console),
                   ("the funnel consumer", "funnel_consumer", self._start_funnel_consumer))
        for label, attribute, start in members:
            process = getattr(self, attribute)
            if process is not None and process.poll() is not None:
                start()
                restarted.append(label)
        return restarted

    def addresses(self) -> str:
        """Where each process answers its health check (what an operator watches)."""
        lines = [f"  instance {name}: Rasa {stack.rasa_url}/ , its action server "
                 f"{stack.settings.actions_url}/health" for name, stack in self.instances.items()]
        lines.append(f"  the funnel consumer: {self.funnel_health_url}")
        return "\n".join(lines)

    def stop(self) -> None:
        for process in (self.balancer, self.console, self.funnel_consumer):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        for stack in self.instances.values():
            stack.stop()
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def ready_message(cluster: Cluster) -> str:
    """What `make run-cluster` prints once it serves: where everything is, and on the very
    first start the console's first admin (in the cluster's leads database, as `make run`
    makes one in its own)."""
    settings = cluster.settings
    return (f"\nThe cluster is ready at {cluster.url} (the channels `make run` serves):\n"
            f"  the chat on a sample page: {cluster.url}/webhooks/website/sample\n"
            f"  Rasa's HTTP API (this machine only): {cluster.api_url}, its token in "
            f"{settings.rasa_api_token_path}\n"
            f"Health checks (each answers 200 while well):\n{cluster.addresses()}\n"
            "A process that exits is started again. Press Ctrl-C to stop.\n"
            + console_status(dataclasses.replace(settings,
                                                 database_url=settings.cluster_leads_url)))


def main() -> int:
    settings = load_settings()
    if not settings.redis_url:
        settings = dataclasses.replace(settings, redis_url="redis://127.0.0.1:6379/1")
    if not settings.rabbitmq_url:
        settings = dataclasses.replace(settings, rabbitmq_url="amqp://guest:guest@127.0.0.1:5672/")
    cluster = Cluster(settings)
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    print(f"Starting the cluster: {len(INSTANCE_NAMES)} Rasa instances and their action "
          "servers on PostgreSQL, Redis and RabbitMQ, behind HAProxy on port "
          f"{settings.cluster_port}; this takes a minute or two...", flush=True)
    cluster.start(wait_for_funnel=False)
    print(ready_message(cluster), flush=True)
    try:
        wait_until_up(cluster.funnel_health_url, 30, cluster.funnel_consumer)
    except (TimeoutError, RuntimeError):
        print("The funnel consumer is waiting for RabbitMQ: conversations are unaffected, and "
              "the metrics page's step counts catch up once it answers.", flush=True)
    recent_restarts: list[float] = []
    try:
        while not stopping:
            time.sleep(0.5)
            if stopping:  # Ctrl-C reaches the children too: they are not started again
                break
            try:
                restarted = cluster.restart_exited()
            except Exception as error:  # it did not come up (a database away, say): again
                print(f"A process did not come up again ({type(error).__name__}); trying "
                      "again", file=sys.stderr, flush=True)
                restarted = ["a process that did not come up"]
            if not restarted:
                continue
            print(f"Started again after it exited: {', '.join(restarted)}", flush=True)
            now = time.monotonic()
            recent_restarts = [at for at in recent_restarts if now - at < RESTART_WINDOW_S]
            recent_restarts.append(now)
            if len(recent_restarts) > MAX_RESTARTS_IN_WINDOW:
                print(f"More than {MAX_RESTARTS_IN_WINDOW} restarts in "
                      f"{RESTART_WINDOW_S / 60:.0f} minutes: something is wrong, not unlucky; "
                      "stopping. See the log above.", file=sys.stderr, flush=True)
                return 1
    finally:
        print("Stopping the cluster...", flush=True)
        cluster.stop()
    return 0

if __name__ == "__main__":
    sys.exit(main())
