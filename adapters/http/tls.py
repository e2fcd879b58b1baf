"""TLS for the HTTPS channel: server certificate, optional partner client certificates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.internet import endpoints, ssl


def tls_options(cert: Path, key: Path, client_ca: Path | None = None) -> ssl.CertificateOptions:
    """TLS 1.2 or newer; when ``client_ca`` is given, clients may present a certificate issued
    by it (verified during the handshake) and it authenticates their partner; clients without
    one authenticate by API key instead."""
    private = ssl.PrivateCertificate.loadPEM(key.read_bytes() + b"\n" + cert.read_bytes())
    kwargs: dict[str, Any] = {}
    if client_ca is not None and client_ca.is_file():
        ca = ssl.Certificate.loadPEM(client_ca.read_bytes())
        kwargs = {"verify": True, "caCerts": [ca.original], "requireCertificate": False}
    return ssl.CertificateOptions(
        privateKey=private.privateKey.original, certificate=private.original,
        raiseMinimumTo=ssl.TLSVersion.TLSv1_2, **kwargs)


def server_endpoint(reactor: Any, description: str, *, cert: Path, key: Path,
                    client_ca: Path | None = None) -> Any:  # fmt: skip
    """``ssl:PORT[:interface=ADDR][:backlog=N]`` with our TLS options, or any other Twisted
    endpoint description (``tcp:...`` behind a TLS-terminating proxy) as it is."""
    kind, _, rest = description.partition(":")
    if kind != "ssl":
        return endpoints.serverFromString(reactor, description)
    parts = rest.split(":")
    port = int(parts[0])
    opts = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
    return endpoints.SSL4ServerEndpoint(
        reactor, port, tls_options(cert, key, client_ca),
        backlog=int(opts.get("backlog", 50)), interface=opts.get("interface", ""))
