"""k8s/examples/events-config.yaml stays a valid events configuration."""

from __future__ import annotations

from pathlib import Path

import yaml

from loadtester.events.config import load_event_config
from loadtester.settings import Settings

EXAMPLE = Path(__file__).resolve().parents[2] / "k8s" / "examples" / "events-config.yaml"


def test_example_config_loads(tmp_path: Path) -> None:
    """The ConfigMap's events.yaml loads, with the Secret's file standing in for the mount."""
    documents = list(yaml.safe_load_all(EXAMPLE.read_text()))
    config_map = next(doc for doc in documents if doc["kind"] == "ConfigMap")
    secret = next(doc for doc in documents if doc["kind"] == "Secret")
    for key, value in secret["stringData"].items():
        (tmp_path / key).write_text(value)
    text = config_map["data"]["events.yaml"].replace("/etc/loadtester/secrets", str(tmp_path))
    path = tmp_path / "events.yaml"
    path.write_text(text)
    config = load_event_config(Settings(config=str(path), state="memory"))
    assert {sink.kind for sink in config.sinks.values()} == {"slack", "alertmanager"}
    assert config.routes
