"""The Kubernetes "restricted" Pod Security Standard, checked on a rendered pod spec.

The rules of https://kubernetes.io/docs/concepts/security/pod-security-standards/ (restricted,
which includes baseline) that a Deployment's pod can break; each violation is a sentence.
"""

from __future__ import annotations

from typing import Any

RESTRICTED_VOLUME_TYPES = frozenset({
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
    "projected", "secret"})
BASELINE_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """What keeps this pod spec from the restricted profile (empty: it passes)."""
    found: list[str] = []
    pod_context = pod.get("securityContext") or {}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            found.append(f"{key} is set")
    for volume in pod.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            found.append(f"volume {volume['name']} has type {sorted(kinds)}")
    containers = [*pod.get("initContainers", []), *pod["containers"]]
    for container in containers:
        context = container.get("securityContext") or {}
        name = container["name"]

        def setting(key: str, context: dict[str, Any] = context) -> Any:
            return context.get(key, pod_context.get(key))

        if context.get("privileged"):
            found.append(f"{name}: privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation is not false")
        if setting("runAsNonRoot") is not True:
            found.append(f"{name}: runAsNonRoot is not true")
        if setting("runAsUser") == 0:
            found.append(f"{name}: runAsUser is 0")
        seccomp = (setting("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: seccompProfile is {seccomp}")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            found.append(f"{name}: capabilities do not drop ALL")
        if set(capabilities.get("add") or []) - BASELINE_CAPABILITIES:
            found.append(f"{name}: adds capabilities {capabilities['add']}")
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                found.append(f"{name}: hostPort {port['hostPort']}")
    return found
