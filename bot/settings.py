"""The one place that reads the environment; every other module asks this one."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BOT_DIR = PROJECT_ROOT / "bot"
DEFAULT_RASA_PORT = 5005
DEFAULT_STAFF_PORT = 5010
DEFAULT_CLUSTER_PORT = 8080
DEFAULT_CLUSTER_API_PORT = 8081
DEFAULT_FUNNEL_HEALTH_PORT = 5011
DEFAULT_VAR_DIR = PROJECT_ROOT / "var"


def reachable_host(host: str) -> str:
    """Where this machine reaches a server listening on `host` (all interfaces: loopback)."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def _number_from_env(name: str, default: float) -> int | float:
    """The variable as a number of the default's type; unset or blank gives the default."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    kind = type(default)
    try:
        return kind(raw)
    except ValueError as error:
        what = "a whole number" if kind is int else "a number"
        raise ValueError(f"{name} must be {what}, got {raw!r}") from error


@dataclass(frozen=True)
class Settings:
    rasa_port: int
    actions_port: int
    # Interfaces the two servers listen on: loopback unless a reverse proxy on another host
    # must reach them (RASA_HOST=0.0.0.0 behind a proxy; the action server never needs it).
    rasa_host: str
    actions_host: str
    # Rasa's HTTP API always requires ?token=...; unset, one is generated under var/
    # (bot/local_secrets.py). The website's REST channel stays public.
    rasa_api_token: str | None
    # Shared secret Rasa sends to the action server (Authorization: Bearer ...); unset, one is
    # generated under var/ and read by both processes.
    action_server_token: str | None
    # Messages a minute one conversation, and one client address, may send over the website
    # channel before getting 429 with Retry-After.
    rate_limit_conversation_per_minute: int
    rate_limit_ip_per_minute: int
    # New website conversations one client address may open an hour.
    rate_limit_new_conversations_per_hour: int
    # Behind a reverse proxy every request comes from the proxy: the header that carries the
    # visitor's address (X-Forwarded-For: the last address, the one the proxy added, is used).
    client_ip_header: str | None
    # Web origins (scheme://host[:port]) whose pages may embed the chat widget: socket.io and
    # Rasa's CORS both admit these and no others. Empty: only pages this server itself serves.
    website_origins: tuple[str, ...]
    facility_profile_path: Path
    crisis_patterns_path: Path
    var_dir: Path
    # Leads database: a SQLite file under var/ unless DATABASE_URL points elsewhere (PostgreSQL).
    database_url: str
    # Where leads wait, on local disk, while the database is unreachable.
    lead_spool_dir: Path
    # Other instances' spools (glob patterns) this one drains too, so that a lead spooled by
    # an instance that is gone still lands. They must write to the same leads database.
    lead_spool_peers: tuple[str, ...]
    # How often the action server tries again to write what waits in the spool, so a lead
    # lands once the database is back even if no other lead comes after it.
    spool_retry_seconds: float
    # Fernet key for member IDs at rest; without it member IDs are not stored at all.
    leads_encryption_key: str | None
    # On-call admissions staff texted about new handoffs (E.164, comma-separated).
    oncall_staff_numbers: tuple[str, ...]
    twilio_account_sid: str | None
    twilio_auth_token: str | None
    # The helpline number people text and call; staff alerts and replies come from it too.
    twilio_number: str | None
    # Where voice handoffs ring during admissions hours.
    admissions_phone: str | None
    # The URL Twilio calls us at (scheme and host as Twilio sees them, also behind a proxy):
    # webhook signatures are computed over it, not over the URL the server sees.
    public_base_url: str | None
    # Server secret for pseudonymous SMS/voice conversation ids; generated under var/ if unset.
    conversation_id_secret: str | None
    # Tests and benchmarks only: a local stand-in for https://api.twilio.com.
    twilio_api_base_url: str | None
    # How long an SMS webhook waits for the assistant before answering <Response/> and sending
    # the reply through the REST API instead (Twilio gives up on a webhook after 15 s).
    sms_reply_budget_seconds: float
    # New handoffs (each a staff text) one conversation may open in 24 hours; a crisis is
    # never held back by it.
    handoff_cap_per_conversation: int
    # The staff console (bot/staff/console): its own process and port, on loopback unless a
    # reverse proxy on another host must reach it.
    staff_port: int
    staff_host: str
    # Signs the console's session cookies; generated under var/ if unset.
    staff_session_secret: str | None
    # A console session ends after this long without a request.
    staff_idle_minutes: int
    # Cookies marked Secure (the console is served over https behind a proxy).
    staff_secure_cookies: bool
    # The production profile (`make run-cluster`, scripts/cluster.py). Redis carries the
    # per-conversation locks and the chat's live messages between Rasa instances; unset, a
    # single instance keeps both in its own memory.
    redis_url: str | None
    # Where the load balancer listens, in front of the Rasa instances: the public port
    # serves the channels only; the API port (on loopback) also Rasa's HTTP API, for the
    # console and operators.
    cluster_port: int
    cluster_api_port: int
    # The public port's address: 127.0.0.1 unless a TLS proxy on another host must reach it
    # (the API port is always on 127.0.0.1).
    cluster_host: str
    # The cluster's conversations (Rasa's SQL tracker store) and leads, on PostgreSQL.
    cluster_tracker_url: str
    cluster_leads_url: str
    # RabbitMQ for the event stream behind the console's funnel (bot/funnel); unset, no
    # events are streamed (the default `make run` has none).
    rabbitmq_url: str | None
    # Where the records travel: the broker publishes to this fanout exchange and binds this
    # durable queue, which the consumer reads (endpoints-cluster.yml takes both too).
    funnel_exchange: str
    funnel_queue: str
    # The funnel consumer's health check (GET /health), for probes and the cluster's start-up.
    funnel_health_port: int
    funnel_health_host: str

    @property
    def staff_session_secret_path(self) -> Path:
        return self.var_dir / "staff-session.key"

    @property
    def staff_url(self) -> str:
        return f"http://{reachable_host(self.staff_host)}:{self.staff_port}"

    @property
    def rasa_api_token_path(self) -> Path:
        return self.var_dir / "rasa-api.token"

    @property
    def action_server_token_path(self) -> Path:
        return self.var_dir / "action-server.token"

    @property
    def conversation_id_secret_path(self) -> Path:
        return self.var_dir / "conversation-id.key"

    @property
    def rasa_url(self) -> str:
        """Where a process on this machine reaches the Rasa server (the CLI, tests, bench)."""
        return f"http://{reachable_host(self.rasa_host)}:{self.rasa_port}"

    @property
    def actions_url(self) -> str:
        return f"http://{reachable_host(self.actions_host)}:{self.actions_port}"

    def with_var_dir(self, var_dir: Path) -> Settings:
        """The same settings with local state under `var_dir` (throwaway stacks, benchmarks)."""
        return dataclasses.replace(
            self, var_dir=var_dir,
            database_url=os.environ.get("DATABASE_URL") or _sqlite_leads_url(var_dir),
            lead_spool_dir=Path(os.environ.get("LEAD_SPOOL_DIR") or var_dir / "lead-spool"),
        )


def _sqlite_leads_url(var_dir: Path) -> str:
    return f"sqlite:///{var_dir / 'leads.db'}"


def _list_from_env(name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in os.environ.get(name, "").split(",") if item.strip())


def load_settings() -> Settings:
    var_dir = Path(os.environ.get("VAR_DIR") or DEFAULT_VAR_DIR)
    return Settings(
        rasa_port=_number_from_env("RASA_PORT", DEFAULT_RASA_PORT),
        actions_port=_number_from_env("ACTIONS_PORT", 5055),
        rasa_host=os.environ.get("RASA_HOST") or "127.0.0.1",
        actions_host=os.environ.get("ACTIONS_HOST") or "127.0.0.1",
        rasa_api_token=os.environ.get("RASA_API_TOKEN") or None,
        action_server_token=os.environ.get("ACTION_SERVER_TOKEN") or None,
        rate_limit_conversation_per_minute=_number_from_env(
            "RATE_LIMIT_CONVERSATION_PER_MINUTE", 20),
        rate_limit_ip_per_minute=_number_from_env("RATE_LIMIT_IP_PER_MINUTE", 60),
        rate_limit_new_conversations_per_hour=_number_from_env(
            "RATE_LIMIT_NEW_CONVERSATIONS_PER_HOUR", 30),
        client_ip_header=os.environ.get("CLIENT_IP_HEADER") or None,
        website_origins=tuple(origin.rstrip("/") for origin in _list_from_env("WEBSITE_ORIGINS")),
        facility_profile_path=Path(
            os.environ.get("FACILITY_PROFILE") or BOT_DIR / "facility_profile.yml"
        ),
        # A directory of per-language pattern files (or one such file).
        crisis_patterns_path=Path(
            os.environ.get("CRISIS_PATTERNS") or BOT_DIR / "safety" / "patterns"
        ),
        var_dir=var_dir,
        database_url=os.environ.get("DATABASE_URL") or _sqlite_leads_url(var_dir),
        lead_spool_dir=Path(os.environ.get("LEAD_SPOOL_DIR") or var_dir / "lead-spool"),
        lead_spool_peers=_list_from_env("LEAD_SPOOL_PEERS"),
        spool_retry_seconds=_number_from_env("SPOOL_RETRY_SECONDS", 10.0),
        leads_encryption_key=os.environ.get("LEADS_ENCRYPTION_KEY") or None,
        oncall_staff_numbers=_list_from_env("ONCALL_STAFF_NUMBERS"),
        twilio_account_sid=os.environ.get("TWILIO_ACCOUNT_SID") or None,
        twilio_auth_token=os.environ.get("TWILIO_AUTH_TOKEN") or None,
        twilio_number=(os.environ.get("TWILIO_NUMBER") or os.environ.get("TWILIO_FROM_NUMBER")
                       or None),
        admissions_phone=os.environ.get("ADMISSIONS_PHONE") or None,
        public_base_url=(os.environ.get("PUBLIC_BASE_URL") or "").rstrip("/") or None,
        conversation_id_secret=os.environ.get("CONVERSATION_ID_SECRET") or None,
        twilio_api_base_url=os.environ.get("TWILIO_API_BASE_URL") or None,
        sms_reply_budget_seconds=_number_from_env("SMS_REPLY_BUDGET_SECONDS", 10.0),
        handoff_cap_per_conversation=_number_from_env("HANDOFF_CAP_PER_CONVERSATION", 3),
        staff_port=_number_from_env("STAFF_PORT", DEFAULT_STAFF_PORT),
        staff_host=os.environ.get("STAFF_HOST") or "127.0.0.1",
        staff_session_secret=os.environ.get("STAFF_SESSION_SECRET") or None,
        staff_idle_minutes=_number_from_env("STAFF_IDLE_MINUTES", 30),
        staff_secure_cookies=(os.environ.get("STAFF_SECURE_COOKIES", "").strip().lower()
                              in ("1", "true", "yes")),
        redis_url=os.environ.get("REDIS_URL") or None,
        cluster_port=_number_from_env("CLUSTER_PORT", DEFAULT_CLUSTER_PORT),
        cluster_api_port=_number_from_env("CLUSTER_API_PORT", DEFAULT_CLUSTER_API_PORT),
        cluster_host=os.environ.get("CLUSTER_HOST") or "127.0.0.1",
        cluster_tracker_url=(os.environ.get("CLUSTER_TRACKER_URL")
                             or "postgresql://postgres@127.0.0.1:5432/iop_conversations"),
        cluster_leads_url=(os.environ.get("DATABASE_URL")
                           or "postgresql://postgres@127.0.0.1:5432/iop_leads"),
        rabbitmq_url=os.environ.get("RABBITMQ_URL") or None,
        funnel_exchange=os.environ.get("FUNNEL_EXCHANGE") or "iop-funnel",
        funnel_queue=os.environ.get("FUNNEL_QUEUE") or "funnel",
        funnel_health_port=_number_from_env("FUNNEL_HEALTH_PORT", DEFAULT_FUNNEL_HEALTH_PORT),
        funnel_health_host=os.environ.get("FUNNEL_HEALTH_HOST") or "127.0.0.1",
    )
