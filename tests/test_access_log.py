"""gunicorn's access lines, with only the values the format shows built for each request."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from gunicorn.config import Config
from gunicorn.glogging import Logger

from coprod.webhook_app.access_log import LEAN_ATOMS, AccessLogger
from coprod.webhook_app.logs import ACCESS_FORMAT

ENVIRON = {
    "REQUEST_METHOD": "POST",
    "RAW_URI": "/hooks/sheets/youth-panel?x=1",
    "PATH_INFO": "/hooks/sheets/youth-panel",
    "QUERY_STRING": "x=1",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "REMOTE_ADDR": "203.0.113.7",
    "HTTP_USER_AGENT": "Apps Script",
}
REQUEST = SimpleNamespace(headers=[("USER-AGENT", "Apps Script"), ("WEBHOOK-ID", "msg_1")])
ANSWER = SimpleNamespace(status="202 ACCEPTED", sent=41, headers=[("Content-Type", "application/json")])
TOOK = timedelta(seconds=1, microseconds=2345)


def _logger(cls: type[Logger], access_format: str) -> Logger:
    cfg = Config()
    cfg.set("access_log_format", access_format)
    return cls(cfg)


def test_the_shipped_format_gets_the_values_gunicorn_would_give_and_nothing_else() -> None:
    ours = _logger(AccessLogger, ACCESS_FORMAT)
    theirs = _logger(Logger, ACCESS_FORMAT)
    assert ours.lean
    atoms = ours.atoms(ANSWER, REQUEST, ENVIRON, TOOK)
    assert set(atoms) == LEAN_ATOMS
    assert atoms == {k: v for k, v in theirs.atoms(ANSWER, REQUEST, ENVIRON, TOOK).items() if k in LEAN_ATOMS}
    assert "203.0.113.7" not in repr(atoms) and "Apps Script" not in repr(atoms)  # no personal data


def test_a_format_naming_a_header_or_the_client_gets_gunicorns_full_set() -> None:
    for access_format in ('%(r)s "%({webhook-id}i)s"', "%(h)s %(r)s", "%(t)s %(s)s"):
        ours = _logger(AccessLogger, access_format)
        assert not ours.lean, access_format
        full = ours.atoms(ANSWER, REQUEST, ENVIRON, TOOK)
        assert full["{webhook-id}i"] == "msg_1" and full["h"] == "203.0.113.7"
