"""twistd entry point (``twistd -n edigate --config FILE``): options and makeService."""

from __future__ import annotations

from typing import Any, ClassVar

from twisted.python import usage


class Options(usage.Options):
    optParameters: ClassVar[list[list[Any]]] = [
        ["config", "c", None, "gateway TOML file (default: the embedded default configuration)"],
    ]


def makeService(options: Options) -> Any:
    from twisted.internet import reactor

    from .config import load_config
    from .observability import configure_logging
    from .service import build_service

    config = load_config(options["config"])
    configure_logging(config.gateway.log_level, config.gateway.log_format,
                      node_id=config.gateway.node_id)  # fmt: skip
    return build_service(config, reactor)
