"""The pods of the Sentinel example (k8s/examples/ha/sentinel) run for real, and fail over.

`python -m tests.support.sentinel_pods DIR` must run inside a private network and mount
namespace (`unshare --net --mount`): there each pod gets a loopback address of its own
(127.0.0.11, .12, .13) with the ports the manifests name, and a private /etc/hosts gives the
pods' stable names those addresses, as the headless Service's DNS does in a cluster. A pod is
the manifest's own init script (its /config and /data moved to a directory of the pod), then
redis-server and redis-sentinel started from what that script wrote. The load tester runs with
the Secret's URL. The scenario's observations are printed as one JSON line (see run()).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.k8s import EXAMPLES, Doc, one, secret_values
from tests.support.k8s import load_component_plain as render
from tests.support.polling import until
from tests.support.service import GATE, Services, request

SERVICE = "flagger-loadtester-sentinel"
HTTP_PORT = 8080


def address(pod: int) -> str:
    """The loopback address standing for the pod's IP."""
    return f"127.0.0.{11 + pod}"


class Pods:
    """The StatefulSet's pods as process pairs, from the rendered manifests."""

    def __init__(self, directory: Path, docs: list[Doc]) -> None:
        self.directory = directory
        template = one(docs, "StatefulSet", SERVICE)["spec"]["template"]["spec"]
        self.script: str = template["initContainers"][0]["command"][2]
        self.password = secret_values(one(docs, "Secret", "flagger-loadtester-state"))["password"]
        self.processes: dict[int, list[subprocess.Popen[bytes]]] = {}

    def cli(self, pod: int, port: int, *command: str) -> str:
        """redis-cli's answer (authenticated as the probes are) from a pod's Redis or sentinel."""
        done = subprocess.run(
            ["redis-cli", "-h", address(pod), "-p", str(port), "--raw", *command],
            env={**os.environ, "REDISCLI_AUTH": self.password},
            capture_output=True, text=True, timeout=10, check=False)
        return done.stdout.strip()

    def start(self, pod: int) -> str:
        """Run the init script, then the pod's Redis and sentinel; what the script printed."""
        home = self.directory / f"pod-{pod}"
        for sub in ("config", "data"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        script = self.script.replace("/config", str(home / "config"))
        script = script.replace("/data", str(home / "data"))
        env = {**os.environ, "POD_NAME": f"{SERVICE}-{pod}", "REDIS_PASSWORD": self.password,
               "REDISCLI_AUTH": self.password}
        init = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True,
                              timeout=60, check=True)
        self.processes[pod] = []
        for program, conf in (("redis-server", "redis.conf"), ("redis-sentinel", "sentinel.conf")):
            with (home / "config" / conf).open("a") as file:  # a pod's own IP: bind to it
                file.write(f"bind {address(pod)}\nlogfile {home / conf}.log\n")
            self.processes[pod].append(subprocess.Popen(
                [program, str(home / "config" / conf)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        until(lambda: self.cli(pod, 6379, "PING") == "PONG"
              and self.cli(pod, 26379, "PING") == "PONG", 20, f"pod {pod} answers")
        return init.stdout.strip()

    def kill(self, pod: int) -> None:
        """SIGKILL the pod's processes, as a node failure does."""
        for process in self.processes.pop(pod, []):
            process.kill()
            process.wait(10)

    def role(self, pod: int) -> list[str]:
        """ROLE of the pod's Redis: ["master", ...] or ["slave", primary, port, state, ...]."""
        return self.cli(pod, 6379, "ROLE").splitlines()

    def watching(self, pod: int) -> tuple[str, str]:
        """How many replicas and other sentinels the pod's sentinel knows of."""
        lines = self.cli(pod, 26379, "SENTINEL", "master", "mymaster").splitlines()
        fields = dict(zip(lines[::2], lines[1::2], strict=False))
        return fields.get("num-slaves", ""), fields.get("num-other-sentinels", "")

    def primary_named(self, pod: int) -> str:
        """The primary the pod's sentinel names."""
        return self.cli(pod, 26379, "SENTINEL", "get-master-addr-by-name", "mymaster")


def run(directory: Path) -> dict[str, Any]:
    """Start three pods and the load tester, open a gate, SIGKILL the primary's pod, restart it."""
    docs = render(EXAMPLES / "ha", EXAMPLES / "ha" / "sentinel")
    url = secret_values(one(docs, "Secret", "flagger-loadtester-state"))["url"]
    hosts = "".join(f"{address(pod)} {SERVICE}-{pod}.{SERVICE}\n" for pod in range(3))
    (directory / "hosts").write_text(f"127.0.0.1 localhost\n{hosts}")
    subprocess.run(["mount", "--bind", str(directory / "hosts"), "/etc/hosts"], check=True)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    pods, services = Pods(directory, docs), Services(directory)
    seen: dict[str, Any] = {}
    try:
        seen["init"] = [pods.start(pod) for pod in range(3)]
        until(lambda: all(pods.watching(pod) == ("2", "2") for pod in range(3)), 30,
              "every sentinel knows 2 replicas and 2 other sentinels")
        seen["roles"] = [pods.role(pod)[0] for pod in range(3)]
        service = services.start(f"-state={url}", port=HTTP_PORT)
        service.wait_healthy()
        seen["ready"] = request(HTTP_PORT, "/readyz", method="GET")
        seen["open"] = request(HTTP_PORT, "/gate/open", GATE)
        seen["replicas_acked"] = pods.cli(0, 6379, "WAIT", "2", "2000")
        pods.kill(0)
        seconds = until(lambda: request(HTTP_PORT, "/readyz", method="GET", timeout=5)[0]
                        == 503, 30, "/readyz 503 without a primary")
        seen["without_primary"] = request(HTTP_PORT, "/gate/check", GATE, timeout=5)[0]
        seconds += until(lambda: request(HTTP_PORT, "/readyz", method="GET", timeout=5)[0]
                         == 200, 60, "/readyz 200 after the promotion")
        seen["seconds_kill_to_ready"] = round(seconds, 1)  # reported, never asserted
        seen["after_failover"] = request(HTTP_PORT, "/gate/check", GATE)
        # the service reached the new primary through one sentinel; the other learns of it
        # from the first's hello messages, seconds later on a loaded machine
        until(lambda: pods.primary_named(1) == pods.primary_named(2), 30,
              "the remaining sentinels name the same primary")
        seen["promoted"] = pods.primary_named(1)
        seen["restart_init"] = pods.start(0)
        until(lambda: pods.role(0)[3:4] == ["connected"], 30, "pod 0 replicating")
        seen["rejoined"] = pods.role(0)[:2]
        seen["logs"] = "\n".join(service.log_lines())
    finally:
        services.close()
        for pod in list(pods.processes):
            pods.kill(pod)
    return seen


if __name__ == "__main__":
    print(json.dumps(run(Path(sys.argv[1]))))
