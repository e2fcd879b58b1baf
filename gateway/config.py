"""Gateway configuration: one TOML file merged over the embedded default (``default.toml``,
which documents every setting). Decoded into typed structs; an unknown key or a wrong type is an
error at start, with the offending path named, never a surprise later."""

from __future__ import annotations

import hashlib
import tomllib
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec


class ConfigError(ValueError):
    pass


class _Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    pass


class GatewaySection(_Strict):
    data_dir: str = "var"
    node_id: str = "edigate-1"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] = "json"


class JournalSection(_Strict):
    backend: Literal["sqlite"] = "sqlite"
    path: str = "var/journal.sqlite3"
    inline_payload_max_bytes: int = 1 << 20
    payload_dir: str = "var/payloads"
    group_commit_max_operations: int = 512
    group_commit_max_delay_ms: float = 0.0
    duplicate_window_hours: float = 168


class PipelineSection(_Strict):
    workers: int = 2
    large_submission_bytes: int = 1 << 20
    large_workers: int = 1
    rule_set: str = "default"
    rule_errors: Literal["route", "reject"] = "route"


class SigningSection(_Strict):
    key: str = "certs/gateway-signing.key"
    certificate: str = "certs/gateway-signing.pem"
    ca_certificate: str = "certs/ca.pem"
    create_if_missing: bool = True


class HttpSection(_Strict):
    endpoint: str = "ssl:8443:interface=127.0.0.1"
    tls_certificate: str = "certs/tls.pem"
    tls_key: str = "certs/tls.key"
    client_ca: str = ""
    max_body_bytes: int = 200 << 20
    public_url: str = "https://127.0.0.1:8443"


class MetricsSection(_Strict):
    endpoint: str = "tcp:9464:interface=127.0.0.1"


class Binding(_Strict):
    exchange: str
    routing_key: str = "#"


class ExchangeSpec(_Strict):
    name: str
    type: Literal["direct", "topic", "fanout", "headers"] = "topic"


class QueueSpec(_Strict):
    name: str
    bindings: list[Binding] = []
    #: extra x-arguments (e.g. {"x-queue-type" = "quorum"}); dead-lettering is added by us
    arguments: dict[str, Any] = {}


class AmqpSection(_Strict):
    host: str = "127.0.0.1"
    port: int = 5672
    virtual_host: str = "/"
    username: str = "guest"
    password: str = "guest"
    heartbeat: int = 30
    confirm_window: int = 512
    reconnect_initial_delay: float = 0.5
    reconnect_max_delay: float = 30.0
    response_queue: str = "edigate.responses"
    response_prefetch: int = 32
    parking_exchange: str = "edigate.parking"
    parking_queue: str = "edigate.parked"
    dead_letter_exchange: str = "edigate.dlx"
    dead_letter_queue: str = "edigate.dead-letter"
    exchanges: list[ExchangeSpec] = []
    queues: list[QueueSpec] = []


class Route(_Strict):
    name: str
    exchange: str
    routing_key: str
    document_type: list[str] | str = "*"
    message_type: list[str] | str = "*"
    transport_mode: list[str] | str = "*"
    partner: list[str] | str = "*"
    outcome: list[str] | str = msgspec.field(default_factory=lambda: ["accepted", "flagged"])


class Partner(_Strict):
    id: str
    name: str = ""
    api_key_sha256: list[str] = []
    client_certificates: list[str] = []
    edifact_senders: list[str] = []
    document_types: list[str] = []
    channels: list[str] = msgspec.field(default_factory=lambda: ["https", "sftp", "as2"])
    response_format: Literal["edifact", "xml", "json"] = "edifact"
    rule_set: str | None = None
    #: XML signatures: "optional" (a signed document is verified, an unsigned one accepted) or
    #: "required" (unsigned documents are refused, EDG-X201)
    xml_signature: Literal["optional", "required"] = "optional"
    #: PEM files of the partner's XML signing certificates (several during a rollover)
    xml_signing_certificates: list[str] = []
    #: sign the gateway's XML answers (acknowledgements, customs responses) to this partner
    sign_xml_answers: bool = False
    #: IANA zone of this partner's EDIFACT times written without one (DTM formats 102, 203...);
    #: unset: each mapping's own (Asia/Hong_Kong)
    timezone: str | None = None

    def accepts_key(self, key: str) -> bool:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return any(_consteq(digest, d.lower()) for d in self.api_key_sha256)


def _consteq(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


class Config(_Strict):
    gateway: GatewaySection = GatewaySection()
    journal: JournalSection = JournalSection()
    pipeline: PipelineSection = PipelineSection()
    signing: SigningSection = SigningSection()
    http: HttpSection = HttpSection()
    metrics: MetricsSection = MetricsSection()
    amqp: AmqpSection = AmqpSection()
    routes: list[Route] = []
    partners: list[Partner] = []
    #: directory paths in the file are relative to this (the config file's directory, or the
    #: working directory for the embedded default)
    base_dir: str = "."

    def path(self, value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else Path(self.base_dir) / p

    def partner(self, partner_id: str) -> Partner | None:
        for p in self.partners:
            if p.id == partner_id:
                return p
        return None


def default_text() -> str:
    return files("edigate").joinpath("default.toml").read_text("utf-8")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value  # scalars and arrays (of tables too) replace
    return out


def load_config(path: str | Path | None = None, *, overrides: dict[str, Any] | None = None,
                ) -> Config:
    """The embedded default, with the file at ``path`` (if any) and ``overrides`` merged over
    it. Relative paths resolve against the file's directory (the working directory without one).
    """
    data = tomllib.loads(default_text())
    base_dir = "."
    if path is not None:
        p = Path(path)
        try:
            data = _merge(data, tomllib.loads(p.read_text("utf-8")))
        except OSError as exc:
            raise ConfigError(f"{p}: {exc.strerror or exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: {exc}") from exc
        base_dir = str(p.resolve().parent)
    if overrides:
        data = _merge(data, overrides)
    data.setdefault("base_dir", base_dir)
    try:
        cfg = msgspec.convert(data, Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path or 'default configuration'}: {exc}") from exc
    _check(cfg)
    return cfg


def rule_set_name(cfg: Config, name: str) -> str:
    """A rule set as the workers load it: a name in gateway/rules, or a file path resolved
    against the configuration's directory."""
    if name.endswith(".toml") or "/" in name:
        return str(cfg.path(name))
    return name


def _check_rule_set(cfg: Config, name: str, where: str) -> None:
    from .rules import RuleSetError, load_rule_set  # the rules need not load for other checks

    try:
        load_rule_set(rule_set_name(cfg, name))
    except (OSError, RuleSetError) as exc:
        raise ConfigError(f"{where}: rule set {name!r} cannot be loaded: {exc}") from None


def _check(cfg: Config) -> None:
    ids = [p.id for p in cfg.partners]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise ConfigError(f"partners: duplicate id(s) {sorted(dup)}")
    for p in cfg.partners:
        for d in p.api_key_sha256:
            if len(d) != 64 or any(c not in "0123456789abcdefABCDEF" for c in d):
                raise ConfigError(f"partners {p.id}: api_key_sha256 must be 64 hex digits")
        if p.rule_set is not None:
            _check_rule_set(cfg, p.rule_set, f"partners {p.id}: rule_set")
        if p.timezone is not None:
            try:
                ZoneInfo(p.timezone)
            except (ValueError, ZoneInfoNotFoundError):
                raise ConfigError(f"partners {p.id}: timezone {p.timezone!r} is not an IANA "
                                  "time zone") from None
        if p.xml_signature == "required" and not p.xml_signing_certificates:
            raise ConfigError(f"partners {p.id}: xml_signature = \"required\" needs "
                              "xml_signing_certificates")
        for cert in p.xml_signing_certificates:
            if not cfg.path(cert).is_file():
                raise ConfigError(f"partners {p.id}: xml_signing_certificates: {cert} is not "
                                  "a file")
    declared = {e.name for e in cfg.amqp.exchanges}
    for r in cfg.routes:
        if r.exchange not in declared:
            raise ConfigError(f"routes {r.name}: exchange {r.exchange!r} is not declared "
                              "in [[amqp.exchanges]]")
    for q in cfg.amqp.queues:
        for b in q.bindings:
            if b.exchange not in declared:
                raise ConfigError(f"amqp.queues {q.name}: binding to undeclared exchange "
                                  f"{b.exchange!r}")
    _check_rule_set(cfg, cfg.pipeline.rule_set, "pipeline: rule_set")
    if cfg.pipeline.workers < 1 or cfg.pipeline.large_workers < 1:
        raise ConfigError("pipeline: workers and large_workers must be at least 1")
    if cfg.amqp.confirm_window < 1:
        raise ConfigError("amqp: confirm_window must be at least 1")
