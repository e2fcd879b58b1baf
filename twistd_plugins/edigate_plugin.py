"""twistd plugin: ``twistd -n edigate --config gateway.toml``.

Installed into the ``twisted.plugins`` namespace package by ``pip install .`` (setup.cfg maps this
folder there). There is deliberately no ``__init__.py`` here: twisted/plugins/__init__.py belongs to
Twisted, and shipping one would delete Twisted's on uninstall.
"""

from twisted.application.service import ServiceMaker

edigate = ServiceMaker(
    "edigate",
    "edigate.tap",
    "edigate customs EDI gateway (HTTPS submissions, journal, AMQP routing)",
    "edigate",
)
