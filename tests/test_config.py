"""Configuration: embedded default, merge, strict checking."""

from __future__ import annotations

from pathlib import Path

import pytest

from edigate.config import ConfigError, load_config


def test_embedded_default_runs_a_demo_partner() -> None:
    cfg = load_config()
    demo = cfg.partner("DEMO")
    assert demo is not None and demo.accepts_key("demo-key") and not demo.accepts_key("demo")
    assert cfg.journal.backend == "sqlite" and cfg.amqp.port == 5672
    assert {r.exchange for r in cfg.routes} <= {e.name for e in cfg.amqp.exchanges}


def test_file_merges_over_default_and_resolves_paths(tmp_path: Path) -> None:
    f = tmp_path / "gw.toml"
    f.write_text('[journal]\npath = "j.sqlite3"\n[amqp]\nconfirm_window = 7\n'
                 '[[partners]]\nid = "ACME"\napi_key_sha256 = ["' + "a" * 64 + '"]\n')
    cfg = load_config(f)
    assert cfg.amqp.confirm_window == 7 and cfg.amqp.port == 5672  # untouched default kept
    assert [p.id for p in cfg.partners] == ["ACME"]  # arrays of tables replace
    assert cfg.path(cfg.journal.path) == tmp_path / "j.sqlite3"


@pytest.mark.parametrize("text,fragment", [
    ("[journal]\npathh = 'x'\n", "pathh"),
    ("[amqp]\nport = 'five'\n", "port"),
    ("[[routes]]\nname='r'\nexchange='nope'\nrouting_key='k'\n", "nope"),
    ("[[partners]]\nid='A'\napi_key_sha256=['xyz']\n", "64 hex"),
    ("[[partners]]\nid='A'\n[[partners]]\nid='A'\n", "duplicate"),
    ("[pipeline]\nworkers = 0\n", "at least 1"),
    ("[[partners]]\nid='A'\ntimezone='Mars/Base'\n", "not an IANA time zone"),
    ("[[partners]]\nid='A'\nrule_set='no_such_profile'\n", "rule set 'no_such_profile'"),
    ("[pipeline]\nrule_set='missing.toml'\n", "pipeline: rule_set"),
    ("[[partners]]\nid='A'\nxml_signature='required'\n", "needs xml_signing_certificates"),
    ("[[partners]]\nid='A'\nxml_signing_certificates=['absent.pem']\n", "absent.pem"),
    ("not toml [", "gw.toml"),
])
def test_mistakes_are_named(tmp_path: Path, text: str, fragment: str) -> None:
    f = tmp_path / "gw.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=fragment):
        load_config(f)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No such file"):
        load_config(tmp_path / "absent.toml")
