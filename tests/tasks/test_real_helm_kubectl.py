"""`helm`, `helmv3` and `kubectl` tasks, and shell tasks running kubectl, end to end against
the real helm 3, helm 4 and kubectl binaries (offline subcommands only: no cluster, no network).

Go's service answers a failed blocking tool `command <metadata.cmd> failed: <output>: exit
status <n>`: the command as the payload gave it, without the tool's name in front (Go's
helmv3.go and kubectl.go format `task.command`, and `helm` is served by the helmv3 task).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from loadtester.keys import RUNNER
from tests.support.client import ClientFactory
from tests.support.tools import HELM_VERSIONS, helm_bin_dir, tool

KUBECTL_VERSIONS = {"kubectl": "v1.35.", "kubectl-1.32": "v1.32."}
HELM_MAJORS = {"helm3": "v3.", "helm4": "v4."}

CHART_YAML = "apiVersion: v2\nname: demo\nversion: 0.1.0\n"
CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  greeting: {{ .Values.greeting | quote }}
"""
RENDERED = """\
---
# Source: demo/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: demo-settings
data:
  greeting: "hello"
"""
KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namePrefix: canary-
resources:
  - deployment.yaml
configMapGenerator:
  - name: settings
    literals:
      - greeting=hello
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
spec:
  selector:
    matchLabels: {app: podinfo}
  template:
    metadata:
      labels: {app: podinfo}
    spec:
      containers:
        - name: podinfo
          image: ghcr.io/stefanprodan/podinfo:6.0.0
"""


@dataclass(frozen=True)
class Tool:
    """One real binary the service finds first on its PATH, and the version prefix it has."""

    path: Path
    version: str

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run it directly (stdout and stderr combined, as the service captures them)."""
        return subprocess.run(
            [str(self.path), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=60,
            check=False,
        )


def _isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep helm and kubectl off the user's config, cache and cluster."""
    for name in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))


@pytest.fixture(params=HELM_VERSIONS)
def helm(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Tool:
    """helm 3 or helm 4 (and kubectl) first on the PATH the service's children get."""
    bin_dir = helm_bin_dir(request.param, tmp_path)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    _isolate(tmp_path, monkeypatch)
    return Tool(bin_dir / "helm", HELM_MAJORS[request.param])


@pytest.fixture(params=sorted(KUBECTL_VERSIONS))
def kubectl(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Tool:
    """kubectl 1.35 or 1.32, alone, first on the PATH the service's children get."""
    bin_dir = tmp_path / f"bin-{request.param}"
    bin_dir.mkdir()
    (bin_dir / "kubectl").symlink_to(tool(request.param))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    _isolate(tmp_path, monkeypatch)
    return Tool(bin_dir / "kubectl", KUBECTL_VERSIONS[request.param])


def make_chart(
    root: Path, name: str, *, chart_yaml: str = CHART_YAML, template: str = CONFIGMAP
) -> Path:
    """A small chart directory: Chart.yaml, values.yaml and one ConfigMap template."""
    chart = root / name
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(chart_yaml)
    (chart / "values.yaml").write_text("greeting: hello\n")
    (chart / "templates" / "configmap.yaml").write_text(template)
    return chart


def make_kustomization(root: Path) -> Path:
    """A kustomize directory: a Deployment, a name prefix and a generated ConfigMap."""
    directory = root / "overlay"
    directory.mkdir()
    (directory / "kustomization.yaml").write_text(KUSTOMIZATION)
    (directory / "deployment.yaml").write_text(DEPLOYMENT)
    return directory


def payload(metadata: dict[str, str]) -> dict[str, Any]:
    """A webhook payload as Flagger posts it."""
    return {
        "name": "podinfo",
        "namespace": "test",
        "phase": "Progressing",
        "checksum": "85d557f47b",
        "metadata": metadata,
    }


async def post(client: Any, metadata: dict[str, str]) -> tuple[int, str]:
    """Status and body of one `POST /` with this metadata."""
    async with client.post("/", data=json.dumps(payload(metadata))) as response:
        return response.status, await response.text()


async def wait_idle(client: Any) -> None:
    """Wait until the app's runner has no background run in progress."""
    for running in client.server.app[RUNNER].running:
        await asyncio.gather(running.future, return_exceptions=True)


@pytest.mark.system
async def test_helm_is_the_one_on_path(make_client: ClientFactory, helm: Tool) -> None:
    """A helm task runs the helm first on the service's PATH: the real helm 3 or helm 4."""
    client = await make_client()
    status, body = await post(
        client, {"type": "helm", "cmd": "version --short", "returnCmdOutput": "true"}
    )
    assert (status, body) == (200, helm.run("version", "--short").stdout)
    assert body.startswith(helm.version)


@pytest.mark.system
@pytest.mark.parametrize("kind", ["helm", "helmv3"])
async def test_helm_template_returns_manifest(
    make_client: ClientFactory, helm: Tool, tmp_path: Path, kind: str
) -> None:
    """`template demo <chart>` with returnCmdOutput answers 200 and the rendered manifest."""
    chart = make_chart(tmp_path, "demo")
    client = await make_client()
    status, body = await post(
        client, {"type": kind, "cmd": f"template demo {chart}", "returnCmdOutput": "true"}
    )
    assert (status, body) == (200, RENDERED)
    assert body == helm.run("template", "demo", str(chart)).stdout


@pytest.mark.system
@pytest.mark.parametrize("kind", ["helm", "helmv3"])
async def test_helm_template_quiet_without_return_output(
    make_client: ClientFactory, helm: Tool, tmp_path: Path, kind: str
) -> None:
    """A helm task that succeeds answers 200 with an empty body unless returnCmdOutput."""
    chart = make_chart(tmp_path, "demo")
    client = await make_client()
    assert await post(client, {"type": kind, "cmd": f"template demo {chart}"}) == (200, "")


@pytest.mark.system
async def test_helm_template_flags_pass_through(
    make_client: ClientFactory, helm: Tool, tmp_path: Path
) -> None:
    """Words after the chart reach helm as flags: `--set` and `--namespace` change the render."""
    chart = make_chart(tmp_path, "demo")
    client = await make_client()
    cmd = (
        f"template  canary {chart}\t--set greeting=bonjour --namespace test --show-only "
        "templates/configmap.yaml"
    )
    status, body = await post(client, {"type": "helmv3", "cmd": cmd, "returnCmdOutput": "true"})
    assert status == 200
    assert "name: canary-settings\n" in body
    assert 'greeting: "bonjour"\n' in body


@pytest.mark.system
async def test_helm_lint_good_chart(make_client: ClientFactory, helm: Tool, tmp_path: Path) -> None:
    """`helm lint` of a sound chart answers 200 (helm's summary with returnCmdOutput)."""
    chart = make_chart(tmp_path, "demo")
    client = await make_client()
    assert await post(client, {"type": "helm", "cmd": f"lint {chart}"}) == (200, "")
    status, body = await post(
        client, {"type": "helm", "cmd": f"lint {chart}", "returnCmdOutput": "true"}
    )
    assert status == 200
    assert body == helm.run("lint", str(chart)).stdout
    assert "1 chart(s) linted, 0 chart(s) failed" in body


@pytest.mark.system
@pytest.mark.parametrize("kind", ["helm", "helmv3"])
async def test_helm_lint_unclosed_action(
    make_client: ClientFactory, helm: Tool, tmp_path: Path, kind: str
) -> None:
    """`helm lint` of a template with `{{ .Values.x` answers 500 in Go's failure shape."""
    broken = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.x\n"
    chart = make_chart(tmp_path, "broken", template=broken)
    expected = helm.run("lint", str(chart))
    assert expected.returncode == 1
    client = await make_client()
    status, body = await post(
        client, {"type": kind, "cmd": f"lint {chart}", "returnCmdOutput": "true"}
    )
    assert status == 500
    assert body == f"command lint {chart} failed: {expected.stdout}: exit status 1"
    assert body.startswith(f"command lint {chart} failed: ==> Linting {chart}\n")
    assert body.endswith("Error: 1 chart(s) linted, 1 chart(s) failed\n: exit status 1")
    assert "unclosed action" in body


@pytest.mark.system
async def test_helm_lint_chart_without_version(
    make_client: ClientFactory, helm: Tool, tmp_path: Path
) -> None:
    """`helm lint` of a Chart.yaml without `version` answers 500 with helm's own reasons."""
    chart = make_chart(tmp_path, "noversion", chart_yaml="apiVersion: v2\nname: demo\n")
    client = await make_client()
    status, body = await post(client, {"type": "helm", "cmd": f"lint {chart}"})
    assert status == 500
    assert body.startswith(f"command lint {chart} failed: ")
    assert body.endswith(": exit status 1")
    assert "[ERROR] Chart.yaml: version is required" in body
    assert "chart.metadata.version is required" in body


@pytest.mark.system
async def test_helm_template_broken_chart(
    make_client: ClientFactory, helm: Tool, tmp_path: Path
) -> None:
    """`helm template` of a broken template answers 500 with helm's parse error, exit 1."""
    broken = "kind: ConfigMap\nmetadata:\n  name: {{ .Values.x\n"
    chart = make_chart(tmp_path, "broken", template=broken)
    client = await make_client()
    status, body = await post(client, {"type": "helm", "cmd": f"template demo {chart}"})
    assert status == 500
    assert body == (
        f"command template demo {chart} failed: "
        f"{helm.run('template', 'demo', str(chart)).stdout}: exit status 1"
    )
    assert (
        "Error: parse error at (demo/templates/configmap.yaml:4): unclosed action started "
        "at demo/templates/configmap.yaml:3\n"
    ) in body


@pytest.mark.system
@pytest.mark.parametrize("kind", ["helm", "helmv3"])
async def test_helm_argv_has_no_shell(
    make_client: ClientFactory, helm: Tool, tmp_path: Path, kind: str
) -> None:
    """`;`, `&&`, `$(...)` and backquotes reach helm as literal words; nothing else runs."""
    chart = make_chart(tmp_path, "demo")
    markers = [tmp_path / f"pwned-{n}" for n in range(4)]
    cmd = (
        f"template demo {chart};touch {markers[0]} && touch {markers[1]} "
        f"$(touch {markers[2]}) `touch {markers[3]}`"
    )
    words = cmd.split()
    client = await make_client()
    status, body = await post(client, {"type": kind, "cmd": cmd})
    assert status == 500
    unexpected = ", ".join(words[3:])
    assert body == (
        f"command {cmd} failed: Error: expected at most two arguments, "
        f"unexpected arguments: {unexpected}\n: exit status 1"
    )
    assert body == f"command {cmd} failed: {helm.run(*words).stdout}: exit status 1"
    assert [marker for marker in markers if marker.exists()] == []


@pytest.mark.system
async def test_helm_lint_argv_has_no_shell(
    make_client: ClientFactory, helm: Tool, tmp_path: Path
) -> None:
    """`lint <chart>;touch <f>` lints a chart named `<chart>;touch` and one named `<f>`."""
    chart = make_chart(tmp_path, "demo")
    marker = tmp_path / "pwned"
    client = await make_client()
    status, body = await post(client, {"type": "helm", "cmd": f"lint {chart};touch {marker}"})
    assert status == 500
    assert f"==> Linting {chart};touch\n" in body
    assert f"==> Linting {marker}\n" in body
    assert body.endswith("Error: 2 chart(s) linted, 2 chart(s) failed\n: exit status 1")
    assert not marker.exists()


@pytest.mark.system
async def test_kubectl_version_client(make_client: ClientFactory, kubectl: Tool) -> None:
    """`kubectl version --client` answers 200 and, with returnCmdOutput, the client version."""
    client = await make_client()
    assert await post(client, {"type": "kubectl", "cmd": "version --client"}) == (200, "")
    status, body = await post(
        client, {"type": "kubectl", "cmd": "version --client", "returnCmdOutput": "true"}
    )
    assert (status, body) == (200, kubectl.run("version", "--client").stdout)
    assert body.startswith(f"Client Version: {kubectl.version}")
    assert "Kustomize Version: v5." in body


@pytest.mark.system
async def test_kubectl_kustomize(make_client: ClientFactory, kubectl: Tool, tmp_path: Path) -> None:
    """`kubectl kustomize <dir>` answers 200 and the built manifests with returnCmdOutput."""
    overlay = make_kustomization(tmp_path)
    client = await make_client()
    status, body = await post(
        client, {"type": "kubectl", "cmd": f"kustomize {overlay}", "returnCmdOutput": "true"}
    )
    assert (status, body) == (200, kubectl.run("kustomize", str(overlay)).stdout)
    assert "  name: canary-podinfo\n" in body
    assert "  name: canary-settings-" in body


@pytest.mark.system
async def test_kubectl_kustomize_missing_dir(
    make_client: ClientFactory, kubectl: Tool, tmp_path: Path
) -> None:
    """A failing kubectl answers 500 `command <cmd> failed: error: ...: exit status 1`."""
    missing = tmp_path / "missing"
    client = await make_client()
    status, body = await post(client, {"type": "kubectl", "cmd": f"kustomize {missing}"})
    expected = kubectl.run("kustomize", str(missing))
    assert expected.returncode == 1
    assert (status, body) == (
        500,
        f"command kustomize {missing} failed: {expected.stdout}: exit status 1",
    )
    assert body.startswith(f"command kustomize {missing} failed: error: ")


@pytest.mark.system
async def test_bash_pipes_kubectl_kustomize(
    make_client: ClientFactory, kubectl: Tool, tmp_path: Path
) -> None:
    """A bash task runs `kubectl kustomize <dir> | grep ...` through the shell, PATH's kubectl."""
    overlay = make_kustomization(tmp_path)
    client = await make_client()
    cmd = f"kubectl kustomize {overlay} | grep -E 'name: canary-(podinfo|settings)'"
    status, body = await post(client, {"type": "bash", "cmd": cmd, "returnCmdOutput": "true"})
    assert status == 200
    lines = body.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("  name: canary-settings-")
    assert lines[1] == "  name: canary-podinfo"


@pytest.mark.system
async def test_bash_kubectl_pipeline_no_match(
    make_client: ClientFactory, kubectl: Tool, tmp_path: Path
) -> None:
    """A bash pipeline whose grep finds nothing answers 500 with grep's exit status 1."""
    overlay = make_kustomization(tmp_path)
    client = await make_client()
    cmd = f"kubectl kustomize {overlay} | grep -q 'name: primary-podinfo'"
    assert await post(client, {"type": "bash", "cmd": cmd}) == (
        500,
        f"command {cmd} failed: : exit status 1",
    )


@pytest.mark.system
async def test_cmd_runs_kubectl_in_background(
    make_client: ClientFactory, kubectl: Tool, tmp_path: Path
) -> None:
    """A `cmd` task runs `kubectl kustomize <dir> > <file>` in the background and answers 202."""
    overlay = make_kustomization(tmp_path)
    out = tmp_path / "built.yaml"
    client = await make_client()
    cmd = f"kubectl kustomize {overlay} > {out}.part && mv {out}.part {out}"
    assert await post(client, {"type": "cmd", "cmd": cmd}) == (202, "")
    deadline = time.monotonic() + 30
    while not out.exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await wait_idle(client)
    assert out.read_text() == kubectl.run("kustomize", str(overlay)).stdout


@pytest.mark.system
async def test_bash_runs_helm_on_path(
    make_client: ClientFactory, helm: Tool, tmp_path: Path
) -> None:
    """A bash task running `helm template ... | grep` uses the helm on the service's PATH."""
    chart = make_chart(tmp_path, "demo")
    client = await make_client()
    cmd = f"helm version --short && helm template demo {chart} | grep greeting"
    status, body = await post(client, {"type": "bash", "cmd": cmd, "returnCmdOutput": "true"})
    assert status == 200
    version, greeting = body.splitlines()
    assert version.startswith(helm.version)
    assert greeting == '  greeting: "hello"'
