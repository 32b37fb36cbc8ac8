"""The app's /metrics page: as text, or parsed into samples by name with their labels."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

Labels = dict[str, str]
Samples = dict[str, list[tuple[Labels, float]]]


async def metrics_text(client: Any) -> str:
    """The /metrics page."""
    async with client.get("/metrics") as response:
        return str(await response.text())


async def scrape(client: Any) -> Samples:
    """Every sample of /metrics, by sample name."""
    async with client.get("/metrics") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The value of the sample with exactly these labels (0 when absent)."""
    for sample_labels, sample_value in samples.get(name, []):
        if sample_labels == labels:
            return sample_value
    return 0.0
