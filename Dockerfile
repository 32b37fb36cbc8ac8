# syntax=docker/dockerfile:1
#
# loadtester: a drop-in replacement for ghcr.io/fluxcd/flagger-loadtester.
#
#   docker build -t loadtester .
#   docker run --rm -p 8080:8080 --read-only --tmpfs /tmp \
#       -v loadtester-state:/var/lib/loadtester loadtester
#
# Compatible with the Go image:
#   - WORKDIR /home/app holds an executable ./loadtester, so Flagger's Deployment
#     `command: [./loadtester, -port=8080, -log-level=info, -timeout=1h]` runs unchanged;
#     like the Go image, ENTRYPOINT is ./loadtester, so `args: [-port=8080, ...]` works too;
#   - the tools of Flagger's image (its Dockerfile.loadtester) are on PATH, at its versions:
#     helm 3.21.1, kubectl v1.36.2, ghz 0.120.0, grpc_health_probe v0.4.35, bats 1.11.1
#     (downloaded, each checked against the SHA-256 pinned below, with where it was published),
#     and git, hey, wrk, curl, jq, bash from Debian bookworm (apt checks the archive's
#     signatures); wget for Flagger's exec probes (`wget --spider http://localhost:8080/healthz`);
#     /tmp/ghz/health.proto for the ghz health-check webhook of Flagger's docs
#     (`ghz --insecure --proto=/tmp/ghz/health.proto --call=grpc.health.v1.Health/Check ...`);
#   - runs as uid/gid 10001 and works with `readOnlyRootFilesystem: true`: the only writable
#     paths it needs are /tmp (HOME and TMPDIR) and /var/lib/loadtester (the SQLite store of
#     gates and events). Mount an emptyDir on both, or a PersistentVolumeClaim on
#     /var/lib/loadtester to keep gates and undelivered events across pod restarts;
#   - runs as any other uid too (Flagger's chart with securityContext.enabled: uid 100, gid
#     101): both directories are mode 1777, world-writable and sticky like /tmp. Where the
#     state directory still cannot be written (a volume of another owner), the service keeps
#     its state in /tmp/loadtester-state, else in memory as the Go service does, and says so
#     in one log line at start-up, on /readyz, /metrics and in the console.
#
# Platforms: linux/amd64 and linux/arm64 (TARGETARCH; without BuildKit, the build host's).
# ghz publishes no checksums and no published SHA-256 of ghz-linux-arm64.tar.gz 0.120.0 was
# found, so on arm64 ghz is left out unless you pass the one you checked yourself:
#   docker build --platform linux/arm64 --build-arg GHZ_SHA256_ARM64=<sha256> -t loadtester .
#
# Python dependencies are installed from requirements.lock (every wheel and sdist hash, pip
# --require-hashes, setuptools and Cython for the project's build included), then the project
# with --no-deps. Refresh the lock after changing pyproject.toml's dependencies, with pip-tools in
# a throwaway virtualenv of the oldest Python the lock serves, Debian 12's 3.11.2: pip-compile
# keeps only what the running Python needs, and redis needs async-timeout below 3.11.3 (newer
# Pythons install it too, unused). Add --upgrade to move every pin to its newest:
#   /usr/bin/python3.11 -m venv /tmp/pip-tools && /tmp/pip-tools/bin/pip install pip-tools
#   /tmp/pip-tools/bin/pip-compile --generate-hashes --all-build-deps --allow-unsafe \
#       --strip-extras --annotation-style=line --index-url=https://pypi.org/simple \
#       --no-emit-index-url --output-file=requirements.lock pyproject.toml

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: install the locked dependencies, then the project, into a virtualenv ----------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1
# A C compiler, in this stage only, for the load generator's compiled hot path (setup.py).
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/loadtester
COPY requirements.lock /src/requirements.lock
RUN /opt/loadtester/bin/pip install --no-cache-dir --require-hashes -r /src/requirements.lock
COPY . /src
# --no-build-isolation: build with the hash-checked setuptools and Cython of the lock, fetch
# nothing more. The compiled modules lose their debug symbols; the image must run them (a
# build that fell back to the .py files, e.g. a .pxd out of step with its .py, stops here).
RUN /opt/loadtester/bin/pip install --no-cache-dir --no-deps --no-build-isolation /src \
 && /opt/loadtester/bin/pip check \
 && find /opt/loadtester -path '*/loadtester/loadgen/*.so' -exec strip --strip-unneeded {} + \
 && /opt/loadtester/bin/python -c 'from loadtester.loadgen.compiled import PURE_REASON as why; \
assert why is None, why'

# --- tools: release downloads, each checked against a pinned SHA-256 ----------------------
FROM ${PYTHON_IMAGE} AS tools

ARG TARGETARCH
SHELL ["/bin/bash", "-euo", "pipefail", "-c"]
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -m 0755 /out/bin /out/share
WORKDIR /downloads

# helm (Flagger's version). SHA-256: helm's release notes of v3.21.1
# (https://github.com/helm/helm/releases/tag/v3.21.1), which list the content of
# https://get.helm.sh/helm-v3.21.1-linux-<arch>.tar.gz.sha256sum.
ARG HELM_VERSION=3.21.1
RUN arch="${TARGETARCH:-$(dpkg --print-architecture)}"; \
    case "$arch" in \
      amd64) sha256=a349c62d6ab2d5d11f044fc0d3afa6deed7d27cc7d5c351f536b169d9fc2cc1a ;; \
      arm64) sha256=9b3deeecb56c4795aa806858fa4d6388c049e3edfcd771723bd12c1cbef66893 ;; \
      *) echo "helm: no SHA-256 pinned for linux/$arch" >&2; exit 1 ;; \
    esac; \
    curl -fsSLo helm.tar.gz "https://get.helm.sh/helm-v${HELM_VERSION}-linux-${arch}.tar.gz"; \
    echo "${sha256}  helm.tar.gz" | sha256sum -c -; \
    tar -xzf helm.tar.gz --strip-components=1 "linux-${arch}/helm"; \
    install -m 0755 helm /out/bin/helm

# kubectl (Flagger's version). SHA-256: the content of
# https://dl.k8s.io/release/v1.36.2/bin/linux/<arch>/kubectl.sha256, as pinned in public
# repositories that check it (e.g. Dockerfiles with KUBECTL_VERSION=v1.36.2 and
# KUBECTL_SHA256 amd64/arm64; several independent ones give these same two values).
ARG KUBECTL_VERSION=v1.36.2
RUN arch="${TARGETARCH:-$(dpkg --print-architecture)}"; \
    case "$arch" in \
      amd64) sha256=1e9045ec32bea85da43de85f0065358529ea7c7a152eca78154fba5b58c27d82 ;; \
      arm64) sha256=c957eb8c4bea27a3bb35b269edd9082e27f027f7b76b20b5bf4afebc726c6d3e ;; \
      *) echo "kubectl: no SHA-256 pinned for linux/$arch" >&2; exit 1 ;; \
    esac; \
    curl -fsSLo kubectl "https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${arch}/kubectl"; \
    echo "${sha256}  kubectl" | sha256sum -c -; \
    install -m 0755 kubectl /out/bin/kubectl

# grpc_health_probe (Flagger's version). SHA-256: cilium/cilium,
# images/hubble-relay/download-grpc-health-probe.sh at grpc_health_probe_version="v0.4.35"
# (Renovate digests of the GitHub release assets grpc_health_probe-linux-<arch>).
ARG GRPC_HEALTH_PROBE_VERSION=v0.4.35
RUN arch="${TARGETARCH:-$(dpkg --print-architecture)}"; \
    case "$arch" in \
      amd64) sha256=7e98a938983343b00c09a04faf13be0a2cb77fb476410ebca99721598fa2499f ;; \
      arm64) sha256=43b381aabf5e1f6b2636558b78dfa169ba5b0edb18b031ebbe71558ac82e8789 ;; \
      *) echo "grpc_health_probe: no SHA-256 pinned for linux/$arch" >&2; exit 1 ;; \
    esac; \
    curl -fsSLo grpc_health_probe \
      "https://github.com/grpc-ecosystem/grpc-health-probe/releases/download/${GRPC_HEALTH_PROBE_VERSION}/grpc_health_probe-linux-${arch}"; \
    echo "${sha256}  grpc_health_probe" | sha256sum -c -; \
    install -m 0755 grpc_health_probe /out/bin/grpc_health_probe

# ghz (Flagger's version; Flagger builds the same tag from source). SHA-256:
# cashapp/hermit-packages, ghz.hcl (sha256sums, .../v0.120.0/ghz-linux-x86_64.tar.gz). No
# published SHA-256 of ghz-linux-arm64.tar.gz was found: on arm64 ghz is left out unless
# GHZ_SHA256_ARM64 is given.
ARG GHZ_VERSION=0.120.0
ARG GHZ_SHA256_ARM64=""
RUN arch="${TARGETARCH:-$(dpkg --print-architecture)}"; \
    case "$arch" in \
      amd64) asset=ghz-linux-x86_64.tar.gz \
             sha256=c1b5eee89fd7c779213f198753d1d961dfbcb257bc470eb3c336f333060a6d6c ;; \
      arm64) asset=ghz-linux-arm64.tar.gz sha256="$GHZ_SHA256_ARM64" ;; \
      *) asset="" sha256="" ;; \
    esac; \
    if [ -z "$sha256" ]; then \
      echo "ghz: left out, no SHA-256 pinned for linux/$arch (see GHZ_SHA256_ARM64)" >&2; \
      exit 0; \
    fi; \
    curl -fsSLo ghz.tar.gz "https://github.com/bojand/ghz/releases/download/v${GHZ_VERSION}/${asset}"; \
    echo "${sha256}  ghz.tar.gz" | sha256sum -c -; \
    tar -xzf ghz.tar.gz ghz; \
    install -m 0755 ghz /out/bin/ghz

# bats (Flagger copies /opt/bats of bats/bats:1.11.1; this is its source release, installed
# the same way into /opt/bats). SHA-256: Homebrew/homebrew-core, Formula/b/bats-core.rb
# (url .../bats-core/archive/refs/tags/v1.11.1.tar.gz).
ARG BATS_VERSION=1.11.1
RUN curl -fsSLo bats.tar.gz \
      "https://github.com/bats-core/bats-core/archive/refs/tags/v${BATS_VERSION}.tar.gz"; \
    echo "5c57ed9616b78f7fd8c553b9bae3c7c9870119edd727ec17dbd1185c599f79d9  bats.tar.gz" \
      | sha256sum -c -; \
    tar -xzf bats.tar.gz; \
    "bats-core-${BATS_VERSION}/install.sh" /out/bats

# The gRPC health schema Flagger's image puts at /tmp/ghz/health.proto (it takes grpc-proto's
# master; this is the file at the commit below). SHA-256: computed from that commit's blob
# (git show 2eb777a...:grpc/health/v1/health.proto | sha256sum).
ARG GRPC_PROTO_COMMIT=2eb777aba6593c31e21f7f69a163486bdc793501
RUN curl -fsSLo health.proto \
      "https://raw.githubusercontent.com/grpc/grpc-proto/${GRPC_PROTO_COMMIT}/grpc/health/v1/health.proto"; \
    echo "164b670058855c6277a0511a14e2a302dd5a8ff899853ca6851b6b201a413d28  health.proto" \
      | sha256sum -c -; \
    install -D -m 0644 health.proto /out/share/ghz/health.proto

# --- runtime ------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}

LABEL org.opencontainers.image.title="loadtester" \
      org.opencontainers.image.description="Drop-in replacement for Flagger's load tester"

# Tools the webhooks run (bash/cmd tasks, hey and wrk load tests, acceptance checks, git for
# scripts that clone) plus tini, which the ./loadtester shim puts in front of the service when
# it is PID 1, so that orphaned grandchildren of killed task process groups are reaped instead
# of piling up as zombies. The two writable directories are 1777 (sticky), so that whatever
# uid a Deployment picks can write them, and no uid can remove another's files.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      bash ca-certificates curl git hey jq tini wget wrk \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 app \
 && useradd --uid 10001 --gid 10001 --home-dir /home/app --create-home \
      --shell /usr/sbin/nologin app \
 && install -d -m 1777 /tmp \
 && install -d -o 10001 -g 10001 -m 1777 /var/lib/loadtester

COPY --from=tools /out/bin/ /usr/local/bin/
COPY --from=tools /out/bats/ /opt/bats/
COPY --from=tools /out/share/ghz/ /usr/local/share/ghz/
COPY --from=build /opt/loadtester /opt/loadtester

# `loadtester` and `bats` on PATH, /tmp/ghz/health.proto, and the ./loadtester that Flagger's
# manifests call. The shim is owned by root, so the service user cannot replace it. A mounted
# /tmp (an emptyDir) hides the image's /tmp/ghz, so the shim puts health.proto back there.
# hadolint ignore=SC2016
RUN ln -s /opt/loadtester/bin/loadtester /usr/local/bin/loadtester \
 && ln -s /opt/bats/bin/bats /usr/local/bin/bats \
 && install -D -m 0644 /usr/local/share/ghz/health.proto /tmp/ghz/health.proto \
 && printf '%s\n' \
      '#!/bin/sh' \
      '# Flagger runs "./loadtester -port=8080 ...": start the installed console script.' \
      'app=/opt/loadtester/bin/loadtester' \
      'proto=/usr/local/share/ghz/health.proto' \
      'if [ -r "$proto" ] && [ ! -e /tmp/ghz/health.proto ]; then' \
      '  mkdir -p /tmp/ghz 2>/dev/null && cp "$proto" /tmp/ghz/ 2>/dev/null' \
      'fi' \
      'if [ "$$" -eq 1 ] && [ -x /usr/bin/tini ]; then' \
      '  exec /usr/bin/tini -- "$app" "$@"' \
      'fi' \
      'exec "$app" "$@"' \
      > /home/app/loadtester \
 && chmod 0755 /home/app/loadtester

# HOME and TMPDIR on /tmp: the root filesystem may be read-only, /tmp is a mounted volume.
# Bytecode was compiled at install time; never try to write it at run time.
ENV HOME=/tmp \
    TMPDIR=/tmp \
    LOADTESTER_STATE=/var/lib/loadtester \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# Anonymous volumes keep an unchanged read-only Deployment (Flagger's own, which mounts
# nothing) working under Docker and containerd, which give them the image directory's owner
# and mode (1777: writable by any uid); Kubernetes mounts replace them.
VOLUME ["/tmp", "/var/lib/loadtester"]

WORKDIR /home/app
USER 10001:10001
EXPOSE 8080

# Smoke test, as the service user: every tool answers with its version. hey has no version
# flag (its Debian package version is printed, and its usage checked); wrk prints its version
# and exits 1; ghz is only absent where no SHA-256 was pinned (arm64 without GHZ_SHA256_ARM64).
# DL4001/DL3047 are about downloads; here curl and wget only print their versions.
SHELL ["/bin/bash", "-euo", "pipefail", "-c"]
# hadolint ignore=DL4001,DL3047
RUN helm version --short \
 && kubectl version --client \
 && if command -v ghz > /dev/null; then ghz --version; \
    else [ "$(dpkg --print-architecture)" != amd64 ] && echo "ghz: not installed"; fi \
 && grpc_health_probe -version \
 && git --version \
 && bats --version \
 && dpkg-query -W -f 'hey ${Version}\n' hey \
 && { hey 2>&1 || true; } | grep -q '^Usage: hey' \
 && { wrk --version 2>&1 || true; } | grep '^wrk ' \
 && curl --version \
 && jq --version \
 && bash --version \
 && wget --version > /dev/null \
 && tini --version \
 && test -r /tmp/ghz/health.proto \
 && ./loadtester --version \
 && ./loadtester --help > /dev/null

ENTRYPOINT ["./loadtester"]
CMD ["-port=8080", "-log-level=info", "-timeout=1h"]
