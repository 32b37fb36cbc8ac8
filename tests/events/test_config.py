"""The events configuration: YAML file, flags, secrets from files, errors naming the line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from loadtester.event import Event
from loadtester.events.config import (
    FLAG_SINKS,
    SINK_FACTORIES,
    ConfigError,
    load_event_config,
)
from loadtester.events.router import Router
from loadtester.models import WebhookPayload
from loadtester.settings import Settings
from tests.support.events import event

GOOD = """\
sinks:
  chat:
    type: slack
    url_file: {secret}
  am:
    type: alertmanager
    url: http://127.0.0.1:9093
routes:
  - match:
      eventType: Warning
      namespace: "^prod-"
    sinks: [chat, am]
  - match:
      phases: [Succeeded, Failed]
      canary: "^podinfo$"
      message: "(?i)completed|failed"
    sinks: [chat, am]
delivery:
  fold_window: 1m
  max_age: 2h
"""


def _load(tmp_path: Path, text: str, **settings: Any) -> Any:
    path = tmp_path / "events.yaml"
    path.write_text(text)
    return load_event_config(Settings(config=str(path), state="memory", **settings))


def _event(**kwargs: Any) -> Event:
    return Event.from_payload(WebhookPayload.model_validate(event(**kwargs)))


def test_routes_match_type_phase_namespace_canary_message(tmp_path: Path) -> None:
    """Every condition of a route must hold; matching routes add their sinks."""
    secret = tmp_path / "slack"
    secret.write_text("https://hooks.slack.com/services/T/B/x\n")
    config = _load(tmp_path, GOOD.format(secret=secret))
    assert config.sinks["chat"].url == "https://hooks.slack.com/services/T/B/x"
    assert config.delivery.fold_window == 60 and config.delivery.max_age == 7200
    router = Router(config)

    def names(**kwargs: Any) -> list[str]:
        return [sink.name for sink in router.targets(_event(**kwargs))]

    assert names(event_type="Warning", namespace="prod-eu") == ["chat", "am"]
    assert names(event_type="Warning", namespace="test") == []
    assert names(phase="Succeeded", message="Promotion completed!") == ["chat", "am"]
    assert names(phase="Succeeded", message="Promotion completed!", name="other") == []
    assert names(phase="Progressing") == []
    # alertmanager only takes events that fire or resolve an alert
    assert names(event_type="Warning", namespace="prod-eu", phase="Progressing") == ["chat", "am"]


def test_flags_define_sinks_without_a_file() -> None:
    """-slack-url and friends each define a sink named after the tool; no routes: all events."""
    settings = Settings(state="memory", slack_url="https://hooks.slack.com/x",
                        msteams_url="https://x.logic.azure.com/w", discord_url="https://d/x",
                        gchat_url="https://chat.googleapis.com/x", rocket_url="https://r/x",
                        alertmanager_url="http://am:9093", event_webhook_url="https://h/x",
                        event_fold_window=0, event_max_age=60)
    config = load_event_config(settings)
    assert sorted(config.sinks) == ["alertmanager", "discord", "gchat", "msteams", "rocket",
                                    "slack", "webhook"]
    assert config.routes is None
    assert config.delivery.fold_window == 0 and config.delivery.max_age == 60
    assert config.sinks["alertmanager"].url == "http://am:9093/api/v2/alerts"


def test_each_sink_type_is_built_by_its_factory() -> None:
    """Every sink type has one factory in the table, and the sink it builds is of that type."""
    settings = Settings(state="memory", **{field: "https://example.test/x" for field in FLAG_SINKS})
    config = load_event_config(settings)
    assert set(SINK_FACTORIES) == set(FLAG_SINKS.values()) == set(config.sinks)
    assert {name: sink.kind for name, sink in config.sinks.items()} == {
        name: name for name in SINK_FACTORIES}


def test_flags_win_over_the_file_delivery_section(tmp_path: Path) -> None:
    """An explicit -event-max-age beats the file's delivery.max_age; otherwise the file wins."""
    text = "sinks: {}\ndelivery: {max_age: 2h, fold_window: 10s}\n"
    assert _load(tmp_path, text, event_max_age=30).delivery.max_age == 30
    assert _load(tmp_path, text).delivery.max_age == 7200
    assert _load(tmp_path, text).delivery.fold_window == 10


def test_max_attempts_from_the_file_or_the_flag(tmp_path: Path) -> None:
    """delivery.max_attempts sets the limit; -event-max-attempts beats it; 0 is no limit."""
    text = "sinks: {}\ndelivery: {max_attempts: 5}\n"
    assert _load(tmp_path, text).delivery.max_attempts == 5
    assert _load(tmp_path, text, event_max_attempts=2).delivery.max_attempts == 2
    assert _load(tmp_path, "sinks: {}\n").delivery.max_attempts == 0


@pytest.mark.parametrize(("text", "expected"), [
    ("sinks:\n  chat:\n    type: slack\n    urll: http://x\n",
     ":4: sinks.chat.urll: Extra inputs are not permitted"),
    ("sinks:\n  chat:\n    type: slak\n    url: http://x\n", ":2: sinks.chat: Input tag 'slak'"),
    ("sinks:\n  chat:\n    type: slack\n", ":2: sinks.chat: url or url_file is required"),
    ("sinks:\n  chat: {type: slack, url: http://x}\nroutes:\n  - sinks: [chat, nope]\n",
     ":4: routes.0.sinks.1: no sink named 'nope'"),
    ("sinks:\n  c: {type: slack, url: http://x}\nroutes:\n  - match:\n      phases: [Bogus]\n"
     "    sinks: [c]\n", ":5: routes.0.match.phases: unknown phase 'Bogus'"),
    ("sinks:\n  c: {type: slack, url: http://x}\nroutes:\n  - match:\n      canary: '(('\n"
     "    sinks: [c]\n", ":5: routes.0.match.canary: invalid regexp"),
    ("sinks:\n  c:\n    type: discord\n    url: http://x\n    text: '{{ message'\n",
     ":5: sinks.c.text: template error"),
    ("sinks:\n  c:\n    type: webhook\n    url: http://x\n"
     "    body: '{{ \"\".__class__.__mro__ }}'\n", ":5: sinks.c.body: template error"),
    ("sinks:\n  c:\n    type: webhook\n    url: http://x\n    body: '{{ message }}'\n",
     ":5: sinks.c.body: body template did not render JSON"),
    ("sinks:\n  c: {type: slack, url_file: /nonexistent/slack}\n",
     ":2: sinks.c.url_file: cannot read /nonexistent/slack"),
    ("sinks:\n  c: {type: slack, url: 'ftp://x'}\n", ":2: sinks.c.url: the URL must start"),
    ("sinks:\n  c: [\n", ":3: invalid YAML"),
    ("delivery:\n  max_age: soon\n", ":2: delivery.max_age: invalid duration"),
    ("delivery:\n  max_attempts: -1\n", ":2: delivery.max_attempts: Input should be greater"),
])
def test_mistakes_name_the_line(tmp_path: Path, text: str, expected: str) -> None:
    """A wrong file raises ConfigError: one line with the file, line number and problem."""
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(tmp_path / "events.yaml"))
    assert expected in message, message


@pytest.mark.system
def test_wrong_config_stops_the_command(tmp_path: Path) -> None:
    """`loadtester -config=bad.yaml` exits 2 and prints the one-line reason on stderr."""
    path = tmp_path / "bad.yaml"
    path.write_text("sinks:\n  chat:\n    type: slack\n    urll: http://x\n")
    done = subprocess.run([sys.executable, "-m", "loadtester", f"-config={path}",
                           "-state=memory", "-port=0"], capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == (f"loadtester: {path}:4: sinks.chat.urll: "
                                   "Extra inputs are not permitted")


def test_secret_from_env_file(tmp_path: Path) -> None:
    """LOADTESTER_SLACK_URL_FILE fills -slack-url from a mounted secret."""
    from loadtester.cli import parse_settings

    secret = tmp_path / "url"
    secret.write_text("https://hooks.slack.com/services/T/B/secret\n")
    settings = parse_settings(["-state=memory"], {"LOADTESTER_SLACK_URL_FILE": str(secret)})
    assert load_event_config(settings).sinks["slack"].url.endswith("/secret")
