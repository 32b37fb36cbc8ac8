"""Flagger's own chart and kustomize/tester run this image unchanged.

Flagger's sources are read at test time from a git snapshot (FLAGGER_SRC, default
/work/.mirror/fluxcd+flagger/repo), exported into a temporary directory; nothing of Flagger's
is kept in this repository. The chart is rendered with the real helm 3 and helm 4, the
kustomize tree with the real kubectl, our image's name set as a user would. Each rendered
container is checked against the facts of our Dockerfile (tests/support/dockerfile.py): its
command, its flags (parsed by the service's own parser), its probes, the uid and gid it runs
as, and whether those may write the paths the service writes. Then the real service runs as
that uid and gid, with exactly the rendered flags (only the port is a free one), in a
directory tree built from the Dockerfile's facts, and must serve, name its store, keep a gate,
and write nothing outside the paths the image makes writable.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest

from loadtester.auth import Authorizer
from loadtester.cli import parse_settings
from loadtester.models import WebhookPayload
from loadtester.settings import Settings
from loadtester.state.base import GateChange
from loadtester.state.open import DATABASE_FILE, FALLBACK_DIRECTORY, open_state
from tests.support.client import ClientFactory
from tests.support.dockerfile import Image, PathFact, is_executable, parse_dockerfile, permits
from tests.support.helm import Doc, kustomize, template
from tests.support.service import REPO, Service, Services, fetch, free_port, request
from tests.support.tools import HELM_VERSIONS

FLAGGER_SRC = Path(os.environ.get("FLAGGER_SRC", "/work/.mirror/fluxcd+flagger/repo"))
FLAGGER_PATHS = ("charts/loadtester", "kustomize/tester")
REPOSITORY, TAG = "ghcr.io/example/loadtester", "0.1.0"
FLAGGER_IMAGE = "ghcr.io/fluxcd/flagger-loadtester"
DOCKERFILE = REPO / "Dockerfile"
GATE = {"name": "podinfo", "namespace": "test", "phase": "Progressing", "checksum": "abc"}
SETPRIV = shutil.which("setpriv")
W_X = os.W_OK | os.X_OK


@dataclass(frozen=True)
class Install:
    """One way a user installs Flagger's load tester with our image."""

    id: str
    source: str  # chart | kustomize
    values: tuple[str, ...] = ()


INSTALLS = {
    install.id: install
    for install in (
        Install("chart-defaults", "chart"),
        Install("chart-security-context", "chart",
                ("securityContext.enabled=true,podSecurityContext.enabled=true",)),
        Install("chart-replicas-2", "chart", ("replicaCount=2",)),
        Install("chart-cmd", "chart", ("cmd.namespaceRegexp=", "cmd.timeout=1h")),
        Install("kustomize-tester", "kustomize"),
    )
}


# --- Flagger's sources, rendered ---------------------------------------------------------


@pytest.fixture(scope="module")
def flagger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Flagger's chart and kustomize/tester, exported from the snapshot (skips without one)."""
    if not FLAGGER_SRC.exists():
        pytest.skip(f"no Flagger sources at {FLAGGER_SRC} (set FLAGGER_SRC to a clone of "
                    "fluxcd/flagger)")
    tree = tmp_path_factory.mktemp("flagger")
    done = subprocess.run(["git", "-C", str(FLAGGER_SRC), "archive", "HEAD", *FLAGGER_PATHS],
                          capture_output=True, timeout=120, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot export {FLAGGER_PATHS} from {FLAGGER_SRC}: "
                    f"{done.stderr.decode(errors='replace').strip()[-300:]}")
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        archive.extractall(tree, filter="data")
    return tree


def render(install: Install, flagger: Path, helm: str, home: Path) -> list[Doc]:
    """The objects of one install: `helm template` (helm3 or helm4) with our image, or
    `kubectl kustomize` of an overlay of kustomize/tester whose `images:` names our image."""
    if install.source == "chart":
        args = ["--set", f"image.repository={REPOSITORY}", "--set", f"image.tag={TAG}"]
        for value in install.values:
            args += ["--set", value]
        return template(helm, home, *args, chart=flagger / "charts" / "loadtester")
    # kustomize takes a base by relative path only: the overlay sits next to a copy of it
    shutil.copytree(flagger / "kustomize" / "tester", home / "tester", dirs_exist_ok=True)
    overlay = home / "overlay"
    overlay.mkdir(parents=True, exist_ok=True)
    (overlay / "kustomization.yaml").write_text(
        "resources:\n  - ../tester\n"
        f"images:\n  - name: {FLAGGER_IMAGE}\n    newName: {REPOSITORY}\n    newTag: {TAG}\n")
    return kustomize(overlay, home)


@dataclass(frozen=True)
class Pod:
    """The Deployment's pod as the image will run it."""

    replicas: int
    spec: Doc
    container: Doc

    @classmethod
    def of(cls, docs: list[Doc]) -> Pod:
        [deployment] = [doc for doc in docs if doc["kind"] == "Deployment"]
        spec = deployment["spec"]["template"]["spec"]
        [container] = spec["containers"]
        return cls(deployment["spec"].get("replicas", 1), spec, container)

    @property
    def read_only(self) -> bool:
        return bool((self.container.get("securityContext") or {}).get("readOnlyRootFilesystem"))

    def identity(self, image: Image) -> tuple[int, int, set[int]]:
        """(uid, gid, every group) the container runs with: the securityContexts, else the
        image's USER; a runAsUser without runAsGroup gets that uid's group in the image (what
        containerd does), fsGroup and supplementalGroups are added."""
        own = self.container.get("securityContext") or {}
        pod = self.spec.get("securityContext") or {}
        uid = own.get("runAsUser", pod.get("runAsUser"))
        gid = own.get("runAsGroup", pod.get("runAsGroup"))
        if uid is None:
            uid, default_gid = image.uid_gid
        else:
            default_gid = image.primary_gid(uid)
        gid = default_gid if gid is None else gid
        groups = {gid, *pod.get("supplementalGroups", [])}
        if "fsGroup" in pod:
            groups.add(pod["fsGroup"])
        return uid, gid, groups

    def mounted(self, path: str) -> bool:
        """Whether a writable volume is mounted on (or above) `path`."""
        for mount in self.container.get("volumeMounts") or []:
            root = mount["mountPath"].rstrip("/")
            if (path == root or path.startswith(root + "/")) and not mount.get("readOnly"):
                return True
        return False


def writable(image: Image, pod: Pod, path: str) -> tuple[bool, str]:
    """Whether the container may create files in `path`, and why: a mounted volume; an image
    VOLUME (containerd and Docker give it the image directory's owner and mode); else the root
    filesystem, unless it is read-only."""
    uid, _, groups = pod.identity(image)
    existing = path
    while existing not in image.paths and existing != "/":
        existing = str(PurePosixPath(existing).parent)  # the service would create the rest
    fact = image.fact(existing)
    allowed = permits(fact, uid, groups, W_X)
    how = f"{existing} {fact.uid}:{fact.gid} {fact.mode:04o} for uid {uid} groups {sorted(groups)}"
    if pod.mounted(path):
        return True, f"{path}: a mounted volume"
    if image.volume_of(path):
        return allowed, f"image VOLUME {image.volume_of(path)}: {how}"
    if pod.read_only:
        return False, f"{path}: on the read-only root filesystem"
    return allowed, f"root filesystem: {how}"


@dataclass(frozen=True)
class Store:
    """The store the service must end up with."""

    backend: str  # sqlite | memory
    directory: str  # where the SQLite file is ("" in memory)
    fallback: bool


def expected_store(image: Image, pod: Pod, settings: Settings) -> Store:
    """-state's directory where the pod may write it; else $TMPDIR/loadtester-state; else
    memory (the service's fallback, loadtester/state/open.py)."""
    if writable(image, pod, settings.state)[0]:
        return Store("sqlite", settings.state, False)
    tmp = image.env.get("TMPDIR", "/tmp")
    if writable(image, pod, tmp)[0]:
        return Store("sqlite", f"{tmp}/{FALLBACK_DIRECTORY}", True)
    return Store("memory", "", True)


def container_settings(image: Image, pod: Pod) -> Settings:
    """The Settings our CLI makes of the container's exact argv and the image's environment."""
    command = pod.container["command"]
    environment = {**image.env, **{e["name"]: e.get("value", "")
                                   for e in pod.container.get("env") or []}}
    return parse_settings(command[1:], environ=environment)


@pytest.fixture(scope="module")
def image() -> Image:
    """Our Dockerfile's final stage."""
    return parse_dockerfile(DOCKERFILE)


# --- the fallback, in-process (no root needed) --------------------------------------------


async def _opened(settings: Settings) -> tuple[str, str, str]:
    async with open_state(settings) as state:
        await state.gates.set("podinfo.test", GateChange(True))  # it takes writes
        return state.kind, state.location, state.fallback


async def test_unusable_state_dir_falls_back_to_tmpdir_then_memory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """-state that cannot be a directory: $TMPDIR/loadtester-state, else memory, with why."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    settings = Settings(state=str(blocker / "state"), load_workers=1)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    kind, location, reason = await _opened(settings)
    spare = tmp_path / "tmp" / FALLBACK_DIRECTORY
    assert (kind, location) == ("sqlite", str(spare / DATABASE_FILE))
    assert f"cannot create {blocker / 'state'}" in reason
    assert stat.S_IMODE(spare.stat().st_mode) == 0o700
    spare.chmod(0o777)  # not private any more (another user could have made it): refused
    kind, location, reason = await _opened(settings)
    assert (kind, location) == ("memory", "")
    assert f"fallback: {spare} is not a private directory" in reason
    monkeypatch.setenv("TMPDIR", str(blocker))  # nothing to create it in
    kind, _, reason = await _opened(settings)
    assert kind == "memory" and "fallback: cannot create" in reason
    assert set(tmp_path.iterdir()) == {blocker, tmp_path / "tmp"}  # nothing written elsewhere


async def test_store_in_use_on_readyz_metrics_and_api(
        make_client: ClientFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """/readyz keeps its body OK and names the store in headers; /metrics and /api/v1/service
    say the same, fallback included; /healthz stays exactly OK."""
    monkeypatch.setenv("TMPDIR", str(tmp_path / "no-such-tmp"))
    blocker = tmp_path / "file"
    blocker.write_text("")
    for state, backend, fallback in ((str(tmp_path / "state"), "sqlite", False),
                                     ("memory", "memory", False),
                                     (str(blocker / "state"), "memory", True)):
        client = await make_client(state=state)
        async with client.get("/healthz") as response:
            assert (response.status, await response.text()) == (200, "OK")
        async with client.get("/readyz") as response:
            assert (response.status, await response.text()) == (200, "OK")
            assert response.headers["X-Loadtester-State"] == backend
            assert response.headers["X-Loadtester-State-Fallback"] == str(fallback).lower()
        async with client.get("/metrics") as response:
            text = await response.text()
        assert re.findall(r"^loadtester_state_backend\{(.*)\} (\S+)$", text, re.M) == [
            (f'backend="{backend}",fallback="{str(fallback).lower()}"', "1.0")]
        async with client.get("/api/v1/service") as response:
            store = (await response.json())["store"]
        assert (store["backend"], store["fallback"], store["durable"]) == (
            backend, fallback, backend != "memory")
        assert bool(store["reason"]) == fallback


# --- the rendered pods against the Dockerfile --------------------------------------------


def test_dockerfile_facts_the_installs_rely_on(image: Image) -> None:
    """The parser reads our image: WORKDIR shim, USER 10001, HOME/TMPDIR /tmp, sticky 1777
    /tmp and state directory as VOLUMEs, wget installed."""
    assert image.workdir == "/home/app" and image.uid_gid == (10001, 10001)
    assert image.env["HOME"] == image.env["TMPDIR"] == "/tmp"
    state = image.env["LOADTESTER_STATE"]
    assert set(image.volumes) == {"/tmp", state}
    for directory in ("/tmp", state):
        assert image.paths[directory].mode == 0o1777, directory
    shim = image.paths["/home/app/loadtester"]
    assert is_executable(shim) and shim.uid == 0 and (shim.text or "").startswith("#!/bin/sh\n")
    assert image.installs("wget") and image.entrypoint == ["./loadtester"]


# (install, renderer): each chart install with helm 3 and helm 4, kustomize/tester with kubectl
RENDERS = [(install.id, helm) for install in INSTALLS.values() if install.source == "chart"
           for helm in HELM_VERSIONS] + [("kustomize-tester", "kubectl")]
CHART_INSTALLS = [install.id for install in INSTALLS.values() if install.source == "chart"]


@pytest.mark.system
@pytest.mark.parametrize(("install_id", "renderer"), RENDERS)
def test_rendered_container_fits_the_image(flagger: Path, image: Image, tmp_path: Path,
                                           install_id: str, renderer: str) -> None:
    """Command, flags, probes, uid/gid and every path the service writes fit our image."""
    install = INSTALLS[install_id]
    pod = Pod.of(render(install, flagger, renderer, tmp_path))
    container = pod.container
    assert container["image"] == f"{REPOSITORY}:{TAG}"
    command = container["command"]
    # command[0] is the shim in WORKDIR (the container sets no workingDir)
    assert "workingDir" not in container and "args" not in container
    shim = image.paths.get(image.resolve(command[0]))
    assert shim is not None and is_executable(shim), command[0]
    assert "app=/opt/loadtester/bin/loadtester" in (shim.text or "")
    settings = container_settings(image, pod)
    assert settings.port == 8080 and settings.timeout == 3600 and settings.log_level == "info"
    if any(arg.startswith("-namespace-regexp") for arg in command):
        assert "-namespace-regexp=" in command  # Flagger's default: the empty value
    assert settings.namespace_regexp == ""
    authorizer = Authorizer(settings.namespace_regexp)
    for namespace in ("test", "prod", "kube-system"):
        authorizer.authorize(WebhookPayload(name="podinfo", namespace=namespace), None)
    for kind in ("livenessProbe", "readinessProbe"):
        probe = container[kind]["exec"]["command"]
        assert image.installs(probe[0]), f"{probe[0]} is not in the image"
        url = urlsplit(probe[-1])
        assert (url.hostname, url.port, url.path) == ("localhost", settings.port, "/healthz")
        assert int(re.sub(r"\D", "", next(a for a in probe if a.startswith("--timeout")))) < \
            container[kind]["timeoutSeconds"]
    uid, gid, _ = pod.identity(image)
    if install.id == "chart-security-context":
        assert (uid, gid, pod.read_only) == (100, 101, True)
        assert pod.spec["securityContext"]["fsGroup"] == 101
    elif install.id == "kustomize-tester":
        assert (uid, gid, pod.read_only) == (10001, 10001, True)
    else:
        assert (uid, gid, pod.read_only) == (10001, 10001, False)
    assert not container.get("volumeMounts") and not pod.spec.get("volumes")
    for path in (image.env["HOME"], image.env["TMPDIR"]):
        allowed, how = writable(image, pod, path)
        assert allowed, how
    allowed, how = writable(image, pod, settings.state)
    assert allowed, f"the state directory is not writable, the fallback would engage: {how}"
    assert expected_store(image, pod, settings) == Store("sqlite", settings.state, False)


@pytest.mark.system
@pytest.mark.parametrize("install_id", CHART_INSTALLS)
def test_helm3_and_helm4_render_the_same(flagger: Path, tmp_path: Path,
                                         install_id: str) -> None:
    """Both helm majors render Flagger's chart to the same objects."""
    install = INSTALLS[install_id]
    three, four = (render(install, flagger, helm, tmp_path / helm) for helm in HELM_VERSIONS)
    assert three == four


# --- the real service, as the pod runs it ------------------------------------------------


def _variant(image: Image, variant: str) -> Image:
    """The image as parsed, or with its writable directories taken away (to see the fallback
    engage): `state-0750` is the state directory as it was before it became 1777 (10001's
    only), `read-only` makes it and /tmp root's 0755, leaving memory to any other uid."""
    if variant == "image":
        return image
    paths = dict(image.paths)
    state = image.env["LOADTESTER_STATE"]
    if variant == "state-0750":
        paths[state] = replace(paths[state], mode=0o750)
    else:
        assert variant == "read-only", variant
        for path in (state, "/tmp"):
            paths[path] = replace(paths[path], uid=0, gid=0, mode=0o755)
    return replace(image, paths=paths)


@dataclass
class Root:
    """A directory tree built from the image's facts, standing in for the container's root."""

    path: Path
    image: Image
    pod: Pod

    def inside(self, path: str) -> Path:
        return self.path / path.lstrip("/")

    @property
    def writable_paths(self) -> list[Path]:
        """HOME, TMPDIR and the state directory: all the image means to be written."""
        env = self.image.env
        return [self.inside(env[name]) for name in ("HOME", "TMPDIR", "LOADTESTER_STATE")]

    @property
    def environment(self) -> dict[str, str]:
        """The image's environment, absolute paths moved into the tree."""
        env = {name: self.inside(value).as_posix() if value.startswith("/") else value
               for name, value in self.image.env.items()}
        return {**env, "PATH": "/usr/bin:/bin"}


def build_root(base: Path, image: Image, pod: Pod) -> Root:
    """Every directory and file of the image's facts, with their owner and mode; with a
    read-only root filesystem, everything but the VOLUMEs loses its write bits."""
    base.chmod(0o755)
    for path in sorted(image.paths):
        fact: PathFact = image.paths[path]
        target = base / path.lstrip("/")
        if fact.kind == "dir":
            target.mkdir(exist_ok=True)
        elif fact.kind == "file":
            target.write_text(fact.text or "")
        else:
            continue  # links point into the rest of the image, which the tree leaves out
        mode = fact.mode
        if pod.read_only and not image.volume_of(path) and not pod.mounted(path):
            mode &= ~0o222
        os.chown(target, fact.uid, fact.gid)
        target.chmod(mode)
    return Root(base, image, pod)


Snapshot = dict[str, tuple[str, int, int, int, int, int]]


def snapshot(root: Path) -> Snapshot:
    """Every entry under root: kind, mode, owner, group, size and mtime."""
    entries: Snapshot = {}
    for directory, names, files in os.walk(root):
        for name in [*names, *files]:
            info = os.lstat(Path(directory) / name)
            kind = "dir" if stat.S_ISDIR(info.st_mode) else "file"
            entries[str(Path(directory, name).relative_to(root))] = (
                kind, info.st_mode, info.st_uid, info.st_gid, info.st_size, info.st_mtime_ns)
    return entries


HOST_SCRATCH = ("/tmp", "/var/tmp", "/dev/shm")


def owned_in_scratch(uid: int) -> set[str]:
    """Entries of the host's scratch directories that belong to uid (written outside the tree
    if any appear)."""
    found = set()
    for directory in HOST_SCRATCH:
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            try:
                if os.lstat(Path(directory, name)).st_uid == uid:
                    found.add(f"{directory}/{name}")
            except OSError:
                continue
    return found


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    """Service processes, killed at the end."""
    started = Services(tmp_path)
    yield started
    started.close()


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A directory under /tmp that any uid may traverse (pytest's own tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="loadtester-image-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def as_user(uid: int, gid: int, groups: set[int]) -> list[str]:
    """setpriv in front of a command: that uid, gid and supplementary groups, nothing else."""
    if SETPRIV is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv (util-linux) to run the service as the pod's uid")
    extra = sorted(groups - {gid})
    group_arg = f"--groups={','.join(map(str, extra))}" if extra else "--clear-groups"
    return [SETPRIV, f"--reuid={uid}", f"--regid={gid}", group_arg, "--"]


def start_as_pod(services: Services, root: Root) -> Service:
    """The container's command, as its uid and gid, in the tree: `./loadtester` becomes this
    checkout's `python -m loadtester`; every flag is the rendered one but -port (a free one)."""
    uid, gid, groups = root.pod.identity(root.image)
    prefix = as_user(uid, gid, groups)
    probe = subprocess.run([*prefix, sys.executable, "-c", "import loadtester.cli, aiohttp"],
                           capture_output=True, text=True, timeout=60, check=False,
                           env={**root.environment, "PYTHONPATH": str(REPO)})
    if probe.returncode != 0:
        pytest.skip(f"uid {uid} cannot run {sys.executable}: {probe.stderr.strip()[-300:]}")
    port = free_port()
    command = root.pod.container["command"]
    assert root.image.resolve(command[0]) == f"{root.image.workdir}/loadtester"
    assert sum(flag.startswith("-port=") for flag in command) == 1
    flags = [f"-port={port}" if flag.startswith("-port=") else flag for flag in command[1:]]
    return services.start(*flags, command=[*prefix, sys.executable, "-m", "loadtester"],
                          port=port, with_port=False, env=root.environment,
                          cwd=root.inside(root.image.workdir), inherit_env=False)


def store_lines(service: Service) -> list[dict[str, Any]]:
    """The log's lines that name the store in use (each line must be JSON: no traceback)."""
    lines = [json.loads(line) for line in service.log_lines() if line.strip()]
    return [line for line in lines if "backend" in line]


def check_store(service: Service, root: Root, store: Store) -> None:
    """One start-up line, /readyz, /metrics and /api/v1/service all name the expected store."""
    [line] = store_lines(service)
    assert (line["backend"], line["fallback"]) == (store.backend, store.fallback), line
    configured = root.inside(root.image.env["LOADTESTER_STATE"]).as_posix()
    if store.fallback:
        assert line["level"] == "warning" and configured in line["reason"], line
    else:
        assert line["level"] == "info" and "reason" not in line, line
    location = (root.inside(store.directory) / DATABASE_FILE).as_posix() if store.directory else ""
    assert line.get("path", "") == location
    ready = fetch(service.port, "/readyz", method="GET")
    assert (ready.status, ready.text) == (200, "OK")
    assert ready.headers["x-loadtester-state"] == store.backend
    assert ready.headers["x-loadtester-state-fallback"] == str(store.fallback).lower()
    status, metrics = request(service.port, "/metrics", method="GET")
    assert status == 200
    samples = re.findall(r'^loadtester_state_backend\{backend="(\w+)",fallback="(\w+)"\} (\S+)$',
                         metrics, re.M)
    assert samples == [(store.backend, str(store.fallback).lower(), "1.0")], samples
    status, body = request(service.port, "/api/v1/service", method="GET")
    assert status == 200
    assert json.loads(body)["store"] == {
        "backend": store.backend, "durable": store.backend != "memory", "location": location,
        "fallback": store.fallback, "reason": line.get("reason", "")}


def check_probe(command: list[str], port: int) -> None:
    """The rendered exec probe, run as the kubelet would (its port moved with the service);
    where this host lacks the probe's binary, the same GET of its URL."""
    probe = [part.replace(":8080/", f":{port}/") for part in command]
    if shutil.which(probe[0]) is None:
        assert request(port, urlsplit(probe[-1]).path, method="GET") == (200, "OK")
        return
    done = subprocess.run(probe, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr


RUNS = {
    "chart-security-context": ("chart-security-context", "image"),
    "chart-defaults": ("chart-defaults", "image"),
    "kustomize-tester": ("kustomize-tester", "image"),
    "state-dir-not-writable": ("chart-security-context", "state-0750"),
    "nothing-writable": ("chart-security-context", "read-only"),
}


@pytest.mark.system
@pytest.mark.timeout(180)
@pytest.mark.parametrize("run_id", list(RUNS))
def test_service_runs_as_the_pod_would(flagger: Path, image: Image, tmp_path: Path,
                                       services: Services, scratch: Path, run_id: str) -> None:
    """As the pod's uid/gid, with the rendered flags: healthy, one log line naming the store
    (and why, on a fallback), /readyz, /metrics and the API agree, a gate is kept (across a
    restart when the store is durable), and nothing is written outside HOME, TMPDIR and the
    state directory."""
    install_id, variant = RUNS[run_id]
    pod = Pod.of(render(INSTALLS[install_id], flagger, HELM_VERSIONS[0], tmp_path))
    assert not pod.container.get("volumeMounts"), "the tree mimics no mounted volume"
    shape = _variant(image, variant)
    root = build_root(scratch, shape, pod)
    store = expected_store(shape, pod, container_settings(shape, pod))
    if variant == "image":
        assert store == Store("sqlite", shape.env["LOADTESTER_STATE"], False)
    uid = pod.identity(shape)[0]
    before, host_before = snapshot(root.path), owned_in_scratch(uid)

    service = start_as_pod(services, root)
    service.wait_healthy()
    check_probe(pod.container["livenessProbe"]["exec"]["command"], service.port)
    check_store(service, root, store)
    assert request(service.port, "/gate/open", GATE) == (202, "")
    assert request(service.port, "/gate/check", GATE) == (200, "Approved")
    assert service.stop(signal.SIGTERM) == 0

    again = start_as_pod(services, root)
    again.wait_healthy()
    kept = (200, "Approved") if store.backend == "sqlite" else (403, "Forbidden")
    assert request(again.port, "/gate/check", GATE) == kept
    assert again.stop(signal.SIGTERM) == 0

    after = snapshot(root.path)
    allowed = [path.relative_to(root.path).as_posix() for path in root.writable_paths]
    changed = {path for path in before.keys() | after.keys()
               if before.get(path) != after.get(path)}
    outside = {path for path in changed
               if not any(path == ok or path.startswith(ok + "/") for ok in allowed)}
    assert not outside, f"written outside {allowed}: {sorted(outside)}"
    databases = {path for path in after if path.endswith(DATABASE_FILE)}
    if store.backend == "sqlite":
        assert databases == {f"{store.directory.lstrip('/')}/{DATABASE_FILE}"}
        assert after[f"{store.directory.lstrip('/')}/{DATABASE_FILE}"][2] == uid
    else:
        assert not databases
    assert owned_in_scratch(uid) == host_before, "the service wrote outside its tree"


@pytest.mark.system
@pytest.mark.timeout(120)
def test_two_replicas_each_answer_on_their_own_memory(flagger: Path, image: Image,
                                                      tmp_path: Path, services: Services) -> None:
    """replicaCount=2 renders two replicas; two pods on the memory fallback each serve and
    each keep their own gates (as the Go service's replicas do)."""
    for helm in HELM_VERSIONS:
        assert Pod.of(render(INSTALLS["chart-replicas-2"], flagger, helm, tmp_path)).replicas == 2
    pod = Pod.of(render(INSTALLS["chart-replicas-2"], flagger, HELM_VERSIONS[0], tmp_path))
    shape = _variant(image, "read-only")
    store = expected_store(shape, pod, container_settings(shape, pod))
    assert store == Store("memory", "", True)
    replicas: list[tuple[Service, Root]] = []
    scratches: list[Path] = []
    try:
        for _ in range(pod.replicas):
            scratches.append(Path(tempfile.mkdtemp(prefix="loadtester-pod-", dir="/tmp")))
            root = build_root(scratches[-1], shape, pod)
            replicas.append((start_as_pod(services, root), root))
        for service, root in replicas:
            service.wait_healthy()
            check_store(service, root, store)
        first, second = (service for service, _ in replicas)
        assert request(first.port, "/gate/open", GATE) == (202, "")
        assert request(first.port, "/gate/check", GATE) == (200, "Approved")
        assert request(second.port, "/gate/check", GATE) == (403, "Forbidden")
        for service, _ in replicas:
            assert service.stop() == 0
    finally:
        for path in scratches:
            shutil.rmtree(path, ignore_errors=True)


# --- the console ----------------------------------------------------------------------


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.mark.system
@pytest.mark.skipif(not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)),
                    reason="needs Debian's chromium and chromium-driver")
def test_console_header_shows_the_store(services: Services, tmp_path: Path) -> None:
    """The console's header names the store; a memory fallback is flagged, with its reason."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    blocker = tmp_path / "file"
    blocker.write_text("")
    durable = services.start(f"-state={tmp_path / 'state'}", "-load-workers=1")
    fallback = services.start(f"-state={blocker / 'state'}", "-load-workers=1",
                              env={"TMPDIR": str(tmp_path / "no-such-tmp")})
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=DriverService(CHROMEDRIVER), options=options)
    try:
        for service, text, title in ((durable, "state: SQLite", "loadtester.db"),
                                     (fallback, "state: memory only (fallback)",
                                      f"cannot create {blocker / 'state'}")):
            service.wait_healthy()
            driver.get(f"http://127.0.0.1:{service.port}/ui/")
            WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "store").text)
            badge = driver.find_element(By.ID, "store")
            assert badge.is_displayed() and badge.text == text
            assert title in (badge.get_attribute("title") or "")
    finally:
        driver.quit()
