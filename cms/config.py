"""Configuration from ``CMS_*`` environment variables, with defaults that run on SQLite alone."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields

from .logs import formatter
from .metrics import parse_networks

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class StartupError(Exception):
    """Something stops the CMS from starting; the message is one line for the operator (shown without traceback)."""


class SettingsError(StartupError, ValueError):
    """A ``CMS_*`` variable whose value the CMS cannot use; the message names the variable and the value."""


def _bool(value: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE or v in _FALSE:
        return v in _TRUE
    raise ValueError(value)


def _int(value: str) -> int:
    n = int(value.strip())  # ValueError: not a whole number
    if n < 0:
        raise ValueError(value)
    return n


def _float(value: str) -> float:
    x = float(value.strip())
    if not math.isfinite(x) or x < 0:
        raise ValueError(value)
    return x


_PARSERS = {
    "bool": (_bool, "1/0, true/false, yes/no or on/off"),
    "int": (_int, "a whole number, 0 or more"),
    "float": (_float, "a number, 0 or more"),
}


@dataclass
class Settings:
    """Every tunable of the CMS. Build with :func:`load_settings`; nothing connects at import time."""

    database_url: str = "sqlite:///var/cms.sqlite3"
    redis_url: str = ""
    secret_key: str = "dev-insecure-change-me"
    auto_register: bool = False
    heartbeat_interval: int = 300
    ws_ping_interval: float = 60.0
    call_timeout: float = 30.0
    message_log_limit: int = 500
    heartbeat_batch_seconds: float = 1.0  # heartbeats written together this often; 0 writes each at once
    # Charger messages arriving together share one transaction, up to this many (cms.group_commit); 0: one each.
    group_commit_max: int = 64
    group_commit_writers: int = 2  # groups written at once per process (each waits on its own round trips)
    maintenance_interval: float = 60.0  # seconds between upkeep rounds; 0 turns them off (tests)
    # Full garbage collections at most this often, from the upkeep rounds, instead of whenever Python's
    # heuristic fires: with tens of thousands of connections one takes a few hundred milliseconds during which
    # no charger is answered. 0 leaves Python's own schedule.
    gc_full_interval: float = 600.0
    public_url: str = "http://127.0.0.1:8000"
    node_id: str = ""
    # With Redis: every charger this process holds is announced again this often (and at once when Redis comes
    # back), so a Redis that restarted empty relearns who holds which charger within this many seconds.
    presence_refresh_seconds: float = 10.0
    # Reconnect storms (cms.admission, cms.handshake_cache): OCPP-J handshakes in progress at once per process,
    # of chargers whose facts must be read from the database and of chargers the handshake cache knows (0: no
    # limit); how long one more waits for a place before it is refused with HTTP 503 (under gunicorn; 0: refused
    # at once); and how long a registered charger's handshake facts are trusted without reading them again (0:
    # always read).
    max_pending_handshakes: int = 32
    max_pending_known_handshakes: int = 1024
    handshake_wait_seconds: float = 10.0
    handshake_cache_seconds: float = 60.0
    # Connected/disconnected flags written together this often (cms.connection_flags); 0 writes each at once.
    connection_flags_batch_seconds: float = 0.5
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = "cms@localhost"
    smtp_starttls: bool = False
    email_token_max_age: int = 86400  # seconds a verification or password-reset link stays valid
    # Log-in throttle (cms.login_throttle): failures are counted per (account, client address) and per client
    # address across accounts (x4) within the window; past that many, each further try waits a delay that starts
    # at login_backoff_seconds and doubles per failure (never beyond the window). The account is mailed once per
    # window when it collects login_max_failures failures from anywhere.
    login_max_failures: int = 5
    login_window_seconds: int = 900
    login_backoff_seconds: int = 15
    # Web hardening (cms.web.security): forwarded headers are believed from this many reverse proxies in front
    # (Werkzeug's ProxyFix); 0 = clients connect directly and X-Forwarded-* is ignored.
    trusted_proxies: int = 0
    # The driver app's map tiles, a URL template such as https://tile.example.org/{z}/{x}/{y}.png; its origin is
    # the only outside host the driver app's pages may load images from. Empty: no map tiles.
    map_tiles_url: str = ""
    # Driver API: money, tokens, reservations, payments (issue 6).
    currency: str = "EUR"
    min_balance_to_charge: float = 5.0  # a driver's wallet needs at least this to start charging
    driver_access_token_ttl: int = 3600
    driver_refresh_token_ttl: int = 30 * 86400
    reservation_max_minutes: int = 120
    payment_provider: str = "sandbox"  # sandbox | hosted | "package.module:ClassName"
    payment_webhook_secret: str = ""  # HMAC-SHA256 key that signs the provider's webhook calls
    payment_checkout_url: str = ""  # hosted provider: where a driver completes a payment ({ref} is replaced)
    map_tiles_attribution: str = ""  # the credit line the tile provider asks for, shown on the driver app's map
    data_dir: str = "var"
    access_log: str = ""  # gunicorn's access log for `cms serve` ("-": stdout); none by default
    log_format: str = "plain"  # plain | json (one JSON object per line, cms.logs)
    # GET /metrics: from these addresses (comma-separated CIDRs) or with this Bearer token (empty: no token).
    metrics_allow: str = "127.0.0.0/8,::1/128"
    metrics_token: str = ""
    sql_echo: bool = False
    # Site load management (cms.loadmgmt): a station is re-allocated this long after a start or stop (events that
    # come during a run cost one more run), or this long after meter values alone (a scale of minutes).
    loadmgmt_debounce: float = 0.05
    loadmgmt_meter_debounce: float = 5.0
    loadmgmt_concurrency: int = 100  # SetChargingProfile calls in flight at once per station
    extra: dict = field(default_factory=dict)


def load_settings(overrides: dict | None = None, environ: dict | None = None) -> Settings:
    """Read ``CMS_<FIELD>`` variables (e.g. ``CMS_DATABASE_URL``), then apply ``overrides``.

    A value of the wrong kind (``CMS_HEARTBEAT_INTERVAL=soon``, a negative number, ``CMS_AUTO_REGISTER=maybe``)
    raises :class:`SettingsError` naming the variable and the value: the server must not start on a guess.
    """
    env = os.environ if environ is None else environ
    values: dict = {}
    for f in fields(Settings):
        if f.name == "extra":
            continue
        raw = env.get("CMS_" + f.name.upper())
        if raw is None:
            continue
        kind = f.type if isinstance(f.type, str) else f.type.__name__
        if kind in _PARSERS:
            if not raw.strip() and kind != "bool":
                continue  # set but empty (VAR= in an env file): the default
            parse, expected = _PARSERS[kind]
            try:
                values[f.name] = parse(raw)
            except ValueError:
                raise SettingsError(f"CMS_{f.name.upper()} must be {expected}, not {raw!r}") from None
        else:
            values[f.name] = raw
    settings = Settings(**values)
    for key, value in (overrides or {}).items():
        if hasattr(settings, key):
            setattr(settings, key, value)
        else:
            settings.extra[key] = value
    # Checked at start-up: every session's charge is stored in this currency (ISO 4217, three letters).
    if not (len(settings.currency) == 3 and settings.currency.isalpha() and settings.currency.isupper()):
        raise SettingsError(f"CMS_CURRENCY must be an ISO 4217 code such as EUR, not {settings.currency!r}")
    _checked(formatter, settings.log_format)  # CMS_LOG_FORMAT: plain or json
    _checked(parse_networks, settings.metrics_allow)  # CMS_METRICS_ALLOW: networks
    return settings


def _checked(check, value) -> None:
    """Run a setting's own check; its ValueError (which names the variable) becomes a :class:`SettingsError`."""
    try:
        check(value)
    except ValueError as e:
        raise SettingsError(str(e)) from None
