"""Gateway command line and packaging: partners, twistd plugin discovery, `edigate serve` errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from edigate.cli import main


def test_partners_list_default(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["partners", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == ["DEMO"] and rows[0]["api_keys"] == 1
    assert (rows[0]["rule_set"], rows[0]["timezone"], rows[0]["xml_signature"]) == (
        "default", None, "optional")
    assert main(["partners", "list"]) == 0
    out = capsys.readouterr().out
    assert "DEMO: Demo carrier" in out and "XML signatures: optional" in out


def test_partners_hash_key(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["partners", "hash-key", "demo-key"]) == 0
    assert capsys.readouterr().out.strip() == (
        "c48a01f49fd0f2cc404bc3cbbc80e91457a3d41bb429a695243de4c61794155c")


def test_bad_config_is_a_usage_error(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "g.toml"
    bad.write_text("[amqp]\nport = 'x'\n")
    assert main(["serve", "--config", str(bad)]) == 2
    assert "port" in capsys.readouterr().err


def test_twistd_finds_the_plugin() -> None:
    """After `pip install .` the plugin is in twisted.plugins (and no __init__ of ours)."""
    out = subprocess.run(
        [sys.executable, "-c", "from twisted.plugin import getPlugins;"
         "from twisted.application.service import IServiceMaker;"
         "print([p.tapname for p in getPlugins(IServiceMaker)])"],
        capture_output=True, text=True, check=True)
    assert "'edigate'" in out.stdout
    import twisted.plugins

    ours = [Path(p) / "__init__.py" for p in twisted.plugins.__path__]
    # Twisted's own __init__ is there, and it is Twisted's (it defines __path__ extension)
    assert any(p.exists() and "pluginPackagePaths" in p.read_text() for p in ours)
    help_out = subprocess.run([sys.executable, "-m", "twisted", "edigate", "--help"],
                              capture_output=True, text=True)
    assert "--config" in help_out.stdout, help_out.stderr


def test_serve_exits_when_it_cannot_listen(tmp_path: Path) -> None:
    """A taken port is a start failure with exit status 1, not a half-started gateway."""
    import os
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = tmp_path / "g.toml"
        cfg.write_text(f'[http]\nendpoint = "ssl:{port}:interface=127.0.0.1"\n'
                       '[metrics]\nendpoint = "tcp:0:interface=127.0.0.1"\n')
        proc = subprocess.run([sys.executable, "-m", "edigate.cli", "serve", "--config", str(cfg)],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120,
                              env=dict(os.environ))
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert "gateway.start_failed" in proc.stdout
