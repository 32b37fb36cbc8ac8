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
#   - hey, wrk, curl, jq, bash and bats are on PATH, and wget for Flagger's exec probes
#     (`wget --spider http://localhost:8080/healthz`);
#   - runs as uid/gid 10001 and works with `readOnlyRootFilesystem: true`: the only writable
#     paths it needs are /tmp (HOME and TMPDIR) and /var/lib/loadtester (the SQLite store of
#     gates and events). Mount an emptyDir on both, or a PersistentVolumeClaim on
#     /var/lib/loadtester to keep gates and undelivered events across pod restarts.
#
# Not included, because Debian bookworm has no current package for them: kubectl and helm
# (bookworm's kubernetes-client is 1.20, years out of support; helm is not packaged), nor
# ghz and grpc_health_probe. Add them in a derived image, pinning a version and verifying
# the release checksum, e.g.:
#
#   FROM loadtester
#   USER root
#   ARG KUBECTL_VERSION=v1.32.4 TARGETARCH=amd64
#   RUN curl -fsSLo /usr/local/bin/kubectl \
#         "https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${TARGETARCH}/kubectl" \
#    && curl -fsSL "https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${TARGETARCH}/kubectl.sha256" \
#         | sed 's|$|  /usr/local/bin/kubectl|' | sha256sum -c - \
#    && chmod 0755 /usr/local/bin/kubectl
#   # helm: download helm-<version>-linux-<arch>.tar.gz and its .sha256sum from
#   # https://get.helm.sh, check it, and put linux-<arch>/helm in /usr/local/bin.
#   USER 10001:10001

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: install the project and its dependencies into a virtualenv -------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/loadtester
COPY . /src
RUN /opt/loadtester/bin/pip install --no-cache-dir /src

# --- runtime ------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}

LABEL org.opencontainers.image.title="loadtester" \
      org.opencontainers.image.description="Drop-in replacement for Flagger's load tester"

# Tools the webhooks run (bash/cmd tasks, hey load tests, acceptance checks) plus tini, which
# the ./loadtester shim puts in front of the service when it is PID 1, so that orphaned
# grandchildren of killed task process groups are reaped instead of piling up as zombies.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      bash bats ca-certificates curl hey jq tini wget wrk \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 app \
 && useradd --uid 10001 --gid 10001 --home-dir /home/app --create-home \
      --shell /usr/sbin/nologin app \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/loadtester

COPY --from=build /opt/loadtester /opt/loadtester

# `loadtester` on PATH, and the ./loadtester that Flagger's manifests call. The shim is
# owned by root, so the service user cannot replace it.
RUN ln -s /opt/loadtester/bin/loadtester /usr/local/bin/loadtester \
 && printf '%s\n' \
      '#!/bin/sh' \
      '# Flagger runs "./loadtester -port=8080 ...": start the installed console script.' \
      'app=/opt/loadtester/bin/loadtester' \
      'if [ "$$" -eq 1 ] && [ -x /usr/bin/tini ]; then' \
      '  exec /usr/bin/tini -- "$app" "$@"' \
      'fi' \
      'exec "$app" "$@"' \
      > /home/app/loadtester \
 && chmod 0755 /home/app/loadtester \
 && for tool in bash bats curl hey jq tini wget wrk loadtester; do \
      command -v "$tool" > /dev/null || { echo "missing $tool" >&2; exit 1; }; \
    done \
 && /home/app/loadtester --help > /dev/null

# HOME and TMPDIR on /tmp: the root filesystem may be read-only, /tmp is a mounted volume.
# Bytecode was compiled at install time; never try to write it at run time.
ENV HOME=/tmp \
    TMPDIR=/tmp \
    LOADTESTER_STATE=/var/lib/loadtester \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# Anonymous volumes keep an unchanged read-only Deployment (Flagger's own, which mounts
# nothing) working under Docker and containerd; Kubernetes mounts replace them.
VOLUME ["/tmp", "/var/lib/loadtester"]

WORKDIR /home/app
USER 10001:10001
EXPOSE 8080

ENTRYPOINT ["./loadtester"]
CMD ["-port=8080", "-log-level=info", "-timeout=1h"]
