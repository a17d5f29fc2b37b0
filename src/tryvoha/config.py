"""Settings: one table. Each field is a flag of `tryvoha serve` and a TRYVOHA_* variable.

A setting is declared here once, with its type, default, bounds and help; the `serve`
command's options, the environment, validation and `docs/config.md`'s check all read
this model. The flag wins over the variable; the variable wins over the default.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tryvoha.domain.webhooks import RetrySchedule
from tryvoha.protocol.telegram import ChannelSpec, parse_channel, split_channels

DEFAULT_STORE = "sqlite:///var/tryvoha.db"
ENV_PREFIX = "TRYVOHA_"
MAX_WORKERS = 64


def _workers(value: Any) -> Any:
    """--workers: a number of processes, or auto for one per core this process may use."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return max(1, min(MAX_WORKERS, len(os.sched_getaffinity(0))))
    return value


@dataclass(frozen=True, slots=True)
class Rate:
    """A rate limit: at most `count` requests in a burst, refilled over `seconds`."""

    count: int
    seconds: float

    @property
    def limited(self) -> bool:
        return self.count > 0

    def __str__(self) -> str:
        if not self.limited:
            return "off"
        for unit, size in (("h", 3600), ("min", 60)):
            if self.seconds % size == 0:
                times = int(self.seconds // size)
                return f"{self.count}/{'' if times == 1 else times}{unit}"
        return f"{self.count}/{self.seconds:g}s"


_PERIODS = {"s": 1.0, "min": 60.0, "h": 3600.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds of a duration written like 500ms, 30s, 2m (or 2min), 6h or 90d: the one
    way settings and the command line write lengths of time."""
    found = _DURATION.fullmatch(text.strip().lower())
    if found is None:
        raise ValueError(f"'{text}' is not a duration like 30s, 2m, 6h or 90d")
    return float(found.group(1)) * _DURATION_UNITS[found.group(2)]


_RATE = re.compile(r"(\d{1,9})\s*/\s*(\d{0,6})\s*(s|min|h)")


def _rate(value: Any) -> Any:
    """COUNT/PERIOD, as 12/min, 200/5min or 10/s; off for no limit."""
    if not isinstance(value, str):
        return value
    text = value.strip().lower()
    if text in ("off", "0"):
        return Rate(0, 1.0)
    found = _RATE.fullmatch(text)
    if found is None or found.group(2) == "0":
        raise ValueError(f"'{value}' is not a rate like 12/min, 200/5min or 10/s (or off)")
    count, times, unit = int(found.group(1)), int(found.group(2) or 1), found.group(3)
    return Rate(count, times * _PERIODS[unit])


# NoDecode: the variable is the text 12/min, not JSON
RateSetting = Annotated[Rate, NoDecode, BeforeValidator(_rate)]


def _networks(value: str) -> str:
    """Comma-separated addresses or networks (CIDR), each checked."""
    for part in value.split(","):
        if part.strip():
            try:
                ipaddress.ip_network(part.strip(), strict=False)
            except ValueError:
                raise ValueError(f"'{part.strip()}' is not an address or a network") from None
    return value


class ReplayClock(NamedTuple):
    """What `tryvoha demo` replays: the replayed time is first + (now - anchor) x speed."""

    first: datetime
    last: datetime
    speed: float
    anchor: datetime


def parse_replay(text: str) -> ReplayClock | None:
    """FIRST,LAST,SPEED,ANCHOR (RFC 3339 times with a zone): None for ""."""
    if not text:
        return None
    parts = text.split(",")
    if len(parts) != 4:
        raise ValueError("expected FIRST,LAST,SPEED,ANCHOR")
    first, last, anchor = (datetime.fromisoformat(p) for p in (parts[0], parts[1], parts[3]))
    if any(t.tzinfo is None for t in (first, last, anchor)) or last <= first:
        raise ValueError("times need a zone, and LAST must be after FIRST")
    speed = float(parts[2])
    if not 0 < speed <= 1_000_000:
        raise ValueError("SPEED must be above 0 and at most 1000000")
    return ReplayClock(first, last, speed, anchor)


def _schedule(value: Any) -> Any:
    """DELAY,DELAY,... as 5s,30s,2m,1h (or none)."""
    return RetrySchedule.parse(value) if isinstance(value, str) else value


# NoDecode: the variable is the text 5s,30s,2m, not JSON
ScheduleSetting = Annotated[RetrySchedule, NoDecode, BeforeValidator(_schedule)]


def _replay(value: str) -> str:
    parse_replay(value)
    return value


class ServeRole(StrEnum):
    """What a `tryvoha serve` process does (docs/deploy.md): `all` is one box; `writer`s
    take the writes and publish them; `edge`s serve reads and streams and forward writes."""

    ALL = "all"
    WRITER = "writer"
    EDGE = "edge"

    @property
    def writes(self) -> bool:
        """Carries out writes itself, and runs what acts on them once (the channels:
        webhooks, MQTT, Telegram, web push; the standing alerts; projection snapshots)."""
        return self is not ServeRole.EDGE


def _urls(schemes: tuple[str, ...]) -> Any:
    """A comma-separated list of URLs of these schemes (spaces ignored)."""

    def check(value: str) -> str:
        parts = [p.strip() for p in value.split(",") if p.strip()]
        for part in parts:
            if not part.startswith(schemes) or len(part) <= len(part.split("://")[0]) + 3:
                raise ValueError(f"'{part}' is not a {' or '.join(schemes)}… URL")
        return ",".join(parts)

    return AfterValidator(check)


def split_urls(value: str) -> list[str]:
    return [p for p in value.split(",") if p]


def _broker(value: SecretStr) -> SecretStr:
    """--mqtt: empty (off), or a broker's address (the password stays secret)."""
    from tryvoha.protocol.mqtt import BrokerUrl

    if value.get_secret_value():
        BrokerUrl.parse(value.get_secret_value())
    return value


def _topic_prefix(value: str) -> str:
    from tryvoha.protocol.mqtt import valid_prefix

    if not valid_prefix(value):
        raise ValueError("expected topic levels like tryvoha or alerts/ua, without + # or spaces")
    return value


def _names(value: Any) -> Any:
    """A comma-separated list in a flag or variable: Kyiv,Lviv."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _regions(value: tuple[str, ...]) -> tuple[str, ...]:
    """Region names or ids as their ids, in order, once each (the shipped region tree)."""
    from tryvoha.data import region_tree
    from tryvoha.domain.errors import UnknownRegionError

    tree = region_tree()
    try:
        return tuple(dict.fromkeys(tree.resolve(name).id for name in value))
    except UnknownRegionError as e:
        raise ValueError(str(e)) from None


def _telegram_channels(value: Any) -> Any:
    """--telegram-channel, once per channel (the variable: channels separated by `;`)."""
    from tryvoha.data import region_tree

    given = [value] if isinstance(value, str) else list(value or ())
    texts = [p for v in given for p in (split_channels(v) if isinstance(v, str) else [v])]
    specs = [v if isinstance(v, ChannelSpec) else parse_channel(v, region_tree()) for v in texts]
    chats = [spec.chat for spec in specs]
    for chat in chats:
        if chats.count(chat) > 1:
            raise ValueError(f"the channel {chat} is given twice")
    return specs


TelegramChannels = Annotated[list[ChannelSpec], NoDecode, BeforeValidator(_telegram_channels)]
TELEGRAM_TOKEN = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{1,200}")


def _telegram_token(value: SecretStr) -> SecretStr:
    token = value.get_secret_value()
    if token and not TELEGRAM_TOKEN.fullmatch(token):
        raise ValueError("a bot token is digits, a colon, then letters, digits, - or _")
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="forbid", validate_default=True
    )

    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(
        8000, ge=0, le=65535, description="TCP port to listen on (0 picks a free one)"
    )
    store: str = Field(
        DEFAULT_STORE,
        description="where the event log lives: sqlite:///path/to/file.db or postgresql://user:password@host:port/database",
    )
    workers: Annotated[int, BeforeValidator(_workers)] = Field(
        1,
        ge=1,
        le=MAX_WORKERS,
        description="serving processes on this box, or auto (one per core); several share one event stream (see docs/self-host.md)",
        json_schema_extra={"metavar": "N|auto"},
    )
    max_body_bytes: int = Field(
        65_536, ge=1024, description="largest request body accepted; larger gets 413"
    )
    # -- many machines (docs/deploy.md) -------------------------------------------
    role: ServeRole = Field(
        ServeRole.ALL,
        description="all (one box: takes writes, serves everything), writer (takes writes and publishes them on the bus) or edge (serves reads and streams from memory, forwards writes to --writer-url)",
        json_schema_extra={"metavar": "all|writer|edge"},
    )
    bus: Annotated[str, _urls(("nats://", "tls://"))] = Field(
        "",
        description="how committed events reach the other machines: empty for this box alone, or NATS JetStream servers as nats://host:4222[,nats://host2:4222…]",
        json_schema_extra={"metavar": "URL[,URL…]"},
    )
    writer_url: Annotated[str, _urls(("http://", "https://"))] = Field(
        "",
        description="an edge forwards every write here: http://writer:8000[,http://writer2:8000…], tried in turn when one cannot be reached",
        json_schema_extra={"metavar": "URL[,URL…]"},
    )
    nats_stream: str = Field(
        "tryvoha",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="the JetStream stream of committed events (its subject is <name>.events); every writer and edge of one deployment names the same",
    )
    nats_replicas: int = Field(
        1,
        ge=1,
        le=5,
        description="copies of the stream a NATS cluster keeps (3 on a 3-node cluster); used when a writer creates the stream",
    )
    # -- limits: what one client may cost (docs/self-host.md, "Limits") -------------
    request_head_seconds: float = Field(
        10.0,
        gt=0,
        le=600,
        description="from a request's first byte to the end of its head; 408 after",
    )
    request_body_seconds: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="from the end of a request's head to the end of its body; 408 after",
    )
    keep_alive_seconds: float = Field(
        5.0, gt=0, le=3600, description="an idle connection between requests is closed after this"
    )
    ws_hello_seconds: float = Field(
        10.0, gt=0, le=600, description="a WebSocket must send its first message within this"
    )
    max_head_bytes: int = Field(
        16_384,
        ge=1024,
        le=1 << 20,
        description="largest request head (line and headers); larger gets 431",
    )
    max_ws_message_bytes: int = Field(
        65_536, ge=1024, le=1 << 24, description="largest message a WebSocket client may send"
    )
    max_stream_regions: int = Field(
        500,
        ge=1,
        le=10_000,
        description="regions one stream may follow (SSE region= or a WebSocket's regions)",
    )
    stall_seconds: float = Field(
        5.0,
        gt=0,
        le=600,
        description="a subscriber whose socket takes nothing this long while data waits is dropped",
    )
    write_high_water_bytes: int = Field(
        65_536,
        ge=4096,
        le=1 << 26,
        description="unsent bytes above which a connection is read no further and a subscriber gets no more pushed",
    )
    max_queued_bytes: int = Field(
        1 << 20, ge=65_536, le=1 << 30, description="unsent bytes above which a connection is reset"
    )
    client_rate_limit: RateSetting = Field(
        _rate("6000/min"),
        description="requests per client address (a /64 for IPv6), as COUNT/PERIOD; generous because mobile networks put thousands of people behind one address; off for none",
        json_schema_extra={"metavar": "N/PERIOD|off"},
    )
    max_streams_per_client: int = Field(
        1000,
        ge=1,
        le=10_000_000,
        description="SSE and WebSocket streams one client address may hold open at once",
    )
    token_write_rate_limit: RateSetting = Field(
        _rate("120/min"),
        description="writes (declare, update, clear) per token, as COUNT/PERIOD; off for none",
        json_schema_extra={"metavar": "N/PERIOD|off"},
    )
    trusted_proxies: Annotated[str, AfterValidator(_networks)] = Field(
        "",
        description="addresses or networks of the proxies in front (a CDN, nginx), comma-separated, e.g. 127.0.0.1,10.0.0.0/8: for their requests the client is read from X-Forwarded-For",
        json_schema_extra={"metavar": "CIDR,..."},
    )
    confirm_over: int = Field(
        0,
        ge=0,
        le=1000,
        description="a declare touching more than this many oblast-level regions waits for a second admin's confirmation (0: never)",
    )
    confirm_within_seconds: float = Field(
        600.0, gt=0, le=86_400, description="how long a held declare may wait for its confirmation"
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="debug, info, warning or error"
    )
    access_log: bool = Field(False, description="log every request")
    public_url: str = Field(
        "",
        pattern=r"^(https?://[^\s]+)?$",
        description="the address the public reaches this server at, e.g. https://alerts.example.org; CAP messages and the Atom feed link with it (empty: links relative to the feed)",
        json_schema_extra={"metavar": "URL"},
    )
    cap_sender: str = Field(
        "tryvoha@localhost",
        pattern=r"^[^\s,<>&]+$",
        max_length=200,
        description="the <sender> of every CAP message: who publishes them, e.g. alerts@example.gov.ua (no spaces or commas)",
    )
    cap_status: Literal["Actual", "Exercise", "Test"] = Field(
        "Actual",
        description="the <status> of every CAP message: Actual, or Exercise or Test on a server that is not the real thing",
    )
    cap_feed_hours: int = Field(
        24, ge=0, le=168, description="how long an ended alert stays in /cap/feed.atom, in hours"
    )
    cap_expires_hours: int = Field(
        0,
        ge=0,
        le=8760,
        description="<expires> of CAP Alert and Update messages, this many hours after they are sent (0: none; an alert lasts until it is cleared)",
        json_schema_extra={"metavar": "N"},
    )
    cap_sign_key: str = Field(
        "",
        description="PEM private key to sign every CAP message with (XML signature); needs --cap-sign-cert",
        json_schema_extra={"metavar": "FILE"},
    )
    cap_sign_cert: str = Field(
        "",
        description="PEM certificate of --cap-sign-key, put in every signature",
        json_schema_extra={"metavar": "FILE"},
    )

    alerts_in_ua_rate_limit: RateSetting = Field(
        _rate("12/min"),
        description="requests per API key to the alerts.in.ua-compatible API (/v1, /v2), as COUNT/PERIOD: a burst of COUNT, refilled over PERIOD (alerts.in.ua's own: 12/min); off for none",
        json_schema_extra={"metavar": "N/PERIOD|off"},
    )
    alerts_in_ua_history_rate_limit: RateSetting = Field(
        _rate("2/min"),
        description="requests per API key to its region history (/v1/regions/{uid}/alerts/...), counted apart (alerts.in.ua's own: 2/min)",
        json_schema_extra={"metavar": "N/PERIOD|off"},
    )
    ukrainealarm_rate_limit: RateSetting = Field(
        _rate("200/5min"),
        description="requests per API key to the ukrainealarm-compatible API (/api/v3), as COUNT/PERIOD (the limit its public wrapper siren.pp.ua sets: 200/5min)",
        json_schema_extra={"metavar": "N/PERIOD|off"},
    )
    rate_limit_keys: int = Field(
        100_000,
        ge=1,
        le=10_000_000,
        description="API keys whose request counts each serving process remembers; past that, the least recently seen is forgotten",
    )

    # -- MQTT: sirens, LED maps, Home Assistant (docs/devices.md) ----------------------
    mqtt: Annotated[SecretStr, AfterValidator(_broker)] = Field(
        SecretStr(""),
        description="the MQTT broker to publish the state to: mqtt://host:port or mqtt://user:password@host:port (port 1883 if left out), or mqtts://... for TLS (8883); empty: no MQTT (see docs/devices.md)",
        json_schema_extra={"metavar": "URL"},
    )
    mqtt_prefix: Annotated[str, AfterValidator(_topic_prefix)] = Field(
        "tryvoha",
        description="the first topic level(s) of everything published: {prefix}/v1/regions/{id}/state, ...",
        json_schema_extra={"metavar": "TOPIC"},
    )
    mqtt_ca: str = Field(
        "",
        description="PEM file of the certificate authorities an mqtts:// broker is checked against (empty: the system's)",
        json_schema_extra={"metavar": "FILE"},
    )
    mqtt_ha_regions: Annotated[
        tuple[str, ...], NoDecode, BeforeValidator(_names), AfterValidator(_regions)
    ] = Field(
        (),
        description="regions (names or ids, comma-separated) that get Home Assistant MQTT discovery: one binary_sensor per region and threat type",
        json_schema_extra={"metavar": "REGION,..."},
    )
    mqtt_ha_prefix: Annotated[str, AfterValidator(_topic_prefix)] = Field(
        "homeassistant",
        description="Home Assistant's MQTT discovery prefix",
        json_schema_extra={"metavar": "TOPIC"},
    )

    @model_validator(mode="after")
    def _roles_need_their_peers(self) -> Settings:
        if self.role is not ServeRole.ALL and not self.bus:
            raise ValueError(
                f"role {self.role.value} needs --bus nats://…: the other machines hear of writes through it"
            )
        if self.role is ServeRole.EDGE and not self.writer_url:
            raise ValueError(
                "role edge needs --writer-url: an edge forwards every write to a writer"
            )
        if self.role is not ServeRole.EDGE and self.writer_url:
            raise ValueError(
                f"--writer-url is for edges; a process with role {self.role.value} writes itself"
            )
        return self

    telegram_token: Annotated[SecretStr, AfterValidator(_telegram_token)] = Field(
        SecretStr(""),
        description="the Telegram bot's token from @BotFather: the bot answers /start and sends direct messages, and posts to --telegram-channel (a secret, never printed; empty: no Telegram)",
        json_schema_extra={"metavar": "TOKEN"},
    )
    telegram_api_url: str = Field(
        "https://api.telegram.org",
        pattern=r"^https?://[^\s]+$",
        description="the Bot API server: Telegram's own, or your own telegram-bot-api server",
        json_schema_extra={"metavar": "URL"},
    )
    telegram_channel: TelegramChannels = Field(
        [],
        description="a channel or group to post every alert to, as @name or a numeric id, optionally :en for English and =REGION,... for only the alerts that concern those regions (e.g. @kyiv_alerts=Kyiv); give the flag once per channel (the variable: separated by ;)",
        json_schema_extra={"metavar": "@NAME[:LANG][=REGION,...]"},
    )
    telegram_rate: int = Field(
        30,
        ge=1,
        le=1000,
        description="messages a second to Telegram in all (Telegram's free limit is about 30; above it, messages are sent as paid broadcasts, charged to the bot's Telegram Stars)",
        json_schema_extra={"metavar": "N"},
    )

    @model_validator(mode="after")
    def _channels_need_a_token(self) -> Settings:
        if self.telegram_channel and not self.telegram_token.get_secret_value():
            raise ValueError("--telegram-channel needs --telegram-token: the bot posts them")
        return self

    @model_validator(mode="after")
    def _signing_needs_both(self) -> Settings:
        if self.mqtt_ha_regions and not self.mqtt.get_secret_value():
            raise ValueError("--mqtt-ha-regions needs --mqtt: the broker to publish to")
        if bool(self.cap_sign_key) != bool(self.cap_sign_cert):
            raise ValueError("cap_sign_key and cap_sign_cert go together: give both or neither")
        for path in (self.cap_sign_key, self.cap_sign_cert, self.mqtt_ca):
            if path and not os.path.isfile(path):
                raise ValueError(f"cannot read '{path}': no such file")
        return self

    # -- webhooks (docs/webhooks.md) ----------------------------------------------------
    webhook_retry_schedule: ScheduleSetting = Field(
        RetrySchedule.parse("5s,30s,2m,10m,30m,1h,3h,6h,12h"),
        description="how long a webhook endpoint that failed waits before each retry of the same event, as DELAY,DELAY,... (ms, s, m, h, d; each with up to 20% jitter); after the last the endpoint is suspended; none for no retry",
        json_schema_extra={"metavar": "DELAYS"},
    )
    webhook_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=300,
        description="a webhook attempt with no complete answer within this fails (and is retried)",
    )
    webhooks_allow_private: bool = Field(
        False,
        description="let webhooks go to loopback, private, link-local and other non-public addresses (off: such URLs are refused with 422, and checked again at each delivery)",
    )
    webhook_concurrency: int = Field(
        64,
        ge=1,
        le=10_000,
        description="webhook requests in flight at once to endpoints that answer, and as many again to endpoints that are failing (each endpoint has one at a time)",
    )
    webhook_attempts_kept: int = Field(
        50, ge=1, le=10_000, description="delivery attempts remembered per webhook endpoint"
    )
    webhook_lease_seconds: float = Field(
        15.0,
        ge=1,
        le=600,
        description="how long the process that delivers webhooks holds that role without renewing it: when it dies, another takes over after this",
    )
    max_webhooks: int = Field(
        10_000, ge=0, le=1_000_000, description="webhook subscriptions this server holds at most"
    )

    # -- web push (docs/subscribe.md) ------------------------------------------------------
    web_push: bool = Field(
        True,
        description="browser notifications that reach a closed tab (Web Push): the server's keys are made on first start and kept in the store; off: pages notify only while they are open",
    )
    push_contact: str = Field(
        "",
        pattern=r"^((mailto:|https://)[^\s]+)?$",
        max_length=200,
        description="who push services may contact about this server's messages (VAPID's sub): mailto:... or https://... (empty: --public-url when it is https, else mailto:tryvoha@localhost)",
        json_schema_extra={"metavar": "URI"},
    )
    push_ttl_seconds: int = Field(
        21_600,
        ge=0,
        le=2_419_200,
        description="how long a push service keeps a notice for a browser that is offline, in seconds",
    )
    push_retry_seconds: float = Field(
        900.0,
        gt=0,
        le=86_400,
        description="how long a notice is tried again while its push service answers 429 or 5xx (or not at all), backing off; then it is given up",
    )
    push_concurrency: int = Field(
        32, ge=1, le=1024, description="notices sent at once (and connections to push services)"
    )
    push_max_subscriptions: int = Field(
        1_000_000,
        ge=1,
        le=100_000_000,
        description="browsers that may subscribe; past that a new one gets 503",
    )
    push_max_regions: int = Field(
        20, ge=1, le=500, description="regions one browser's subscription may follow"
    )
    push_allow_private: bool = Field(
        False,
        description="accept push endpoints on http and on private or loopback addresses: for tests on one machine, never in production",
    )

    standing_alerts: bool = Field(
        True,
        description="declare the standing alerts (Luhansk oblast since 2022-04-04, Crimea since 2022-12-10) at start-up, once: on a store that has never had them (see docs/history.md)",
    )
    demo_replay: Annotated[str, AfterValidator(_replay)] = Field(
        "",
        description="set by `tryvoha demo`: FIRST,LAST,SPEED,ANCHOR (RFC 3339), so the pages show the replayed date and time",
        json_schema_extra={"metavar": "CLOCK"},
    )


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def describe() -> list[tuple[str, str, Any, str]]:
    """(name, env variable, default, help) for every setting: the docs are checked with it."""
    return [
        (name, env_name(name), field.default, field.description or "")
        for name, field in Settings.model_fields.items()
    ]


def _is_secret(annotation: Any) -> bool:
    """SecretStr, alone or with validators (Annotated): a value never printed."""
    return annotation is SecretStr or SecretStr in getattr(annotation, "__args__", ())


def explain(error: ValidationError) -> str:
    """A settings error as one line naming the flag and the variable."""
    parts = []
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else ""
        where = f"{flag_name(name)} ({env_name(name)})" if name else "settings"
        given = problem.get("input")
        secret = name in Settings.model_fields and _is_secret(
            Settings.model_fields[name].annotation
        )
        if isinstance(given, str):  # a store or bus URL may carry user:password@
            given = re.sub(r"(://)[^/@\s]*@", r"\1…@", given)
        shown = f" '{given}'" if isinstance(given, str | int | float) and not secret else ""
        parts.append(f"{where}:{shown} {problem['msg'].lower()}")
    return "; ".join(parts)
