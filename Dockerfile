# Every Sluice image from one build (BuildKit: DOCKER_BUILDKIT=1; `make images` builds them all).
#
#   docker build --target release-intake -t sluice/release-intake .
#
# Targets: release-intake rollout-planner executor metric-watcher rollback-agent notifier (the
# services), sluice-agent, sluice (the CLI), capture-server (the notice capture server of the
# demo), host (sluice-agent + what the demo application needs: a demo host as a container).
#
# The stage `build` compiles the tree once for all of them; its apt layer depends only on
# docker/build-packages.txt, and the compiler runs through ccache in a BuildKit cache mount, so
# a rebuild after a source change recompiles only what changed. Each final stage starts from
# debian:bookworm-slim (made by `scripts/docker.sh base-image` with debootstrap) and installs
# exactly the packages holding the shared libraries its binaries load (docker/runtime-packages.sh,
# from ldd), runs as uid 10001 under tini, stripped binaries, OCI labels and a HEALTHCHECK.
#
# Where the binaries come from (the labels sluice.binaries and sluice.binaries.from say):
#   SLUICE_BINARIES=source (default): the stage `build` compiles the tree (Release), with the
#     repository as the context. What `make images` builds and pushes.
#   SLUICE_BINARIES=prebuilt: the stage `binaries-prebuilt` copies binaries built outside, from a
#     context staged by `scripts/images.sh build --from DIR` (var/images/prebuilt: out/<image>/
#     {bin,packages} by docker/stage-binaries.sh, and docker/healthcheck.sh). The compose tier of
#     `make test` builds its images so from build/dev, the binaries its earlier tiers built and
#     tested, instead of compiling the tree a third time: images for tests, not for shipping.
# BuildKit builds only the stage chosen; the runtime stages and their apt layers are the same.
ARG BASE=debian:bookworm-slim
ARG SLUICE_BINARIES=source

# ---- build: the whole tree, once ---------------------------------------------------------------
FROM ${BASE} AS build
ARG DEBIAN_FRONTEND=noninteractive
COPY docker/build-packages.txt /tmp/build-packages.txt
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked,id=sluice-apt-cache \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked,id=sluice-apt-lists \
    rm -f /etc/apt/apt.conf.d/docker-clean \
 && apt-get update -q \
 && apt-get install -y -q --no-install-recommends $(grep -v '^#' /tmp/build-packages.txt)
WORKDIR /src
COPY . .
ARG JOBS=2
# Release build without -Werror: warnings are gated by the dev build in `make test`.
# CCACHE_BASEDIR + NOHASHDIR: objects do not depend on the /src path.
RUN --mount=type=cache,target=/ccache,id=sluice-ccache \
    export CCACHE_DIR=/ccache CCACHE_BASEDIR=/src CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=4G \
 && cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSLUICE_WERROR=OFF >/dev/null \
 && nice cmake --build /build -j"${JOBS}" --target $(docker/stage-binaries.sh targets) \
 && { ccache -s | grep -Ei 'hits|misses'; true; }
# /out/<name>/bin: the stripped binaries of each image; /out/<name>/packages: their libraries'
# Debian packages.
RUN docker/stage-binaries.sh /build /out

# ---- the binaries of the final stages: /out/<name>/{bin,packages} -----------------------------
FROM build AS binaries-source

FROM scratch AS binaries-prebuilt
COPY out/ /out/

FROM binaries-${SLUICE_BINARIES} AS binaries

# ---- runtime: what every image shares -----------------------------------------------------------
FROM ${BASE} AS runtime
ARG DEBIAN_FRONTEND=noninteractive
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked,id=sluice-apt-cache \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked,id=sluice-apt-lists \
    rm -f /etc/apt/apt.conf.d/docker-clean \
 && apt-get update -q \
 && apt-get install -y -q --no-install-recommends tini ca-certificates \
 && groupadd --system --gid 10001 sluice \
 && useradd --system --uid 10001 --gid sluice --home-dir /var/lib/sluice --shell /usr/sbin/nologin sluice \
 && install -d -o 10001 -g 10001 /var/lib/sluice
COPY docker/healthcheck.sh /usr/local/bin/sluice-healthcheck
LABEL org.opencontainers.image.vendor="Sluice" \
      org.opencontainers.image.base.name="debian:bookworm-slim"
WORKDIR /var/lib/sluice
ENV SLUICE_LOG_LEVEL=info
STOPSIGNAL SIGTERM

# One stage per image: its packages (the list alone is copied first, so the apt layer is reused
# while the list stays the same), then its binaries.
# ---- the six services --------------------------------------------------------------------------
FROM runtime AS release-intake
COPY --from=binaries /out/release-intake/packages /tmp/packages
# tzdata: the time zones of deployment windows (/usr/share/zoneinfo), read at run time.
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked,id=sluice-apt-cache \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked,id=sluice-apt-lists \
    apt-get install -y -q --no-install-recommends $(cat /tmp/packages) tzdata
COPY --from=binaries /out/release-intake/bin/ /usr/local/bin/
LABEL org.opencontainers.image.title="sluice/release-intake" \
      org.opencontainers.image.description="Sluice release-intake: public API, releases, deployments, GitHub webhook"
ENV SLUICE_HTTP_ADDR=0.0.0.0:8080
EXPOSE 8080
USER 10001:10001
HEALTHCHECK --interval=5s --timeout=3s --start-period=60s --retries=3 CMD ["sluice-healthcheck", "8080", "/readyz"]
# Last, so a new commit rebuilds no layer but this one.
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG SLUICE_BINARIES
ARG BINARIES_FROM=""
LABEL org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      sluice.binaries="${SLUICE_BINARIES}" \
      sluice.binaries.from="${BINARIES_FROM}"
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/release-intake"]

FROM runtime AS metric-watcher
COPY --from=binaries /out/metric-watcher/packages /tmp/packages
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked,id=sluice-apt-cache \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked,id=sluice-apt-lists \
    apt-get install -y -q --no-install-recommends $(cat /tmp/packages)
COPY --from=binaries /out/metric-watcher/bin/ /usr/local/bin/
LABEL org.opencontainers.image.title="sluice/metric-watcher" \
      org.opencontainers.image.description="Sluice metric-watcher: canary analysis on Prometheus metrics"
ENV SLUICE_HTTP_ADDR=0.0.0.0:8081
EXPOSE 8081
USER 10001:10001
HEALTHCHECK --interval=5s --timeout=3s --start-period=60s --retries=3 CMD ["sluice-healthcheck", "8081", "/readyz"]
# Last, so a new commit rebuilds no layer but this one.
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG SLUICE_BINARIES
ARG BINARIES_FROM=""
LABEL org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      sluice.binaries="${SLUICE_BINARIES}" \
      sluice.binaries.from="${BINARIES_FROM}"
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/metric-watcher"]

FROM runtime AS rollout-planner
COPY --from=binaries /out/rollout-planner/packages /tmp/packages
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked,id=sluice-apt-cache \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked,id=sluice-apt-lists \
    apt-get install -y -q --no-install-recommends $(cat /tmp/packages)
COPY --from=binaries /out/rollout-planner/bin/ /usr/local/bin/
LABEL org.opencontainers.image.title="sluice/rollout-planner" \
      org.opencontainers.image.description="Sluice rollout-planner: delivery specs to batch plans"
ENV SLUICE_HTTP_ADDR=0.0.0.0:8082
EXPOSE 8082
USER 10001:10001
HEALTHCHECK --interval=5s --timeout=3s --start-period=60s --retries=3 CMD ["sluice-healthcheck", "8082", "/readyz"]
# Last, so a new commit rebuilds no layer but this one.
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG SLUICE_BINARIES
ARG BINARIES_FROM=""
LABEL org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      sluice.binaries="${SLUICE_BINARIES}" \
      sluice.binaries.from="${BINARIES_FROM}"
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/rollout-planner"]

FROM runtime AS notifier
COPY --from=binaries /out/notifier/packages /tmp/packages
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked,id=sluice-apt-cache \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked,id=sluice-apt-lists \
    apt-get install -y -q --no-install-recommends $(cat /tmp/packages)
COPY --from=binaries /out/notifier/bin/ /usr/local/bin/
LABEL org.opencontainers.image.title="sluice/notifier" \
      org.opencontainers.image.description="Sluice notifier: Slack / DingTalk / WeCom / webhook / e-mail notices"
ENV SLUICE_HTTP_ADDR=0.0.0.0:8083
EXPOSE 8083
USER 10001:10001
HEALTHCHECK --interval=5s --timeout=3s --start-period=60s --retries=3 CMD ["sluice-healthcheck", "8083", "/readyz"]
# Last, so a new commit rebuilds no layer but this one.
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG SLUICE_BINARIES
ARG BINARIES_FROM=""
LABEL org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      sluice.binaries="${SLUICE_BINARIES}" \
      sluice.binaries.from="${BINARIES_FROM}"
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/notifier"]

FROM runtime AS executor
COPY --from=binaries /out/executor/packages /tmp/packages
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked,id=sluice-apt-cache \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked,id=sluice-apt-lists \
    apt-get install -y -q --no-install-recommends $(cat /tmp/packages)
COPY --from=binaries /out/executor/bin/ /usr/local/bin/
LABEL org.opencontainers.image.title="sluice/executor" \
      org.opencontainers.image.description="Sluice executor: drives batches on hosts (sluice-agent) and Kubernetes"
ENV SLUICE_HTTP_ADDR=0.0.0.0:8084
EXPOSE 8084
USER 10001:10001
HEALTHCHECK --interval=5s --timeout=3s --start-period=60s --retries=3 CMD ["sluice-healthcheck", "8084", "/readyz"]
# Last, so a new commit rebuilds no layer but this one.
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG SLUICE_BINARIES
ARG BINARIES_FROM=""
LABEL org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      sluice.binaries="${SLUICE_BINARIES}" \
      sluice.binaries.from="${BINARIES_FROM}"
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/executor"]

FROM runtime AS rollback-agent
COPY --from=binaries /out/rollback-agent/packages /tmp/packages
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked,id=sluice-apt-cache \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked,id=sluice-apt-lists \
    apt-get install -y -q --no-install-recommends $(cat /tmp/packages)
COPY --from=binaries /out/rollback-agent/bin/ /usr/local/bin/
LABEL org.opencontainers.image.title="sluice/rollback-agent" \
      org.opencontainers.image.description="Sluice rollback-agent: rollbacks and incident reports"
ENV SLUICE_HTTP_ADDR=0.0.0.0:8085
EXPOSE 8085
USER 10001:10001
HEALTHCHECK --interval=5s --timeout=3s --start-period=60s --retries=3 CMD ["sluice-healthcheck", "8085", "/readyz"]
# Last, so a new commit rebuilds no layer but this one.
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG SLUICE_BINARIES
ARG BINARIES_FROM=""
LABEL org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      sluice.binaries="${SLUICE_BINARIES}" \
      sluice.binaries.from="${BINARIES_FROM}"
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/rollback-agent"]

# ---- the capture server (notices of the demo) --------------------------------------------------
FROM runtime AS capture-server
COPY --from=binaries /out/capture-server/packages /tmp/packages
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked,id=sluice-apt-cache \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked,id=sluice-apt-lists \
    apt-get install -y -q --no-install-recommends $(cat /tmp/packages)
COPY --from=binaries /out/capture-server/bin/ /usr/local/bin/
LABEL org.opencontainers.image.title="sluice/capture-server" \
      org.opencontainers.image.description="Sluice capture server: records Slack / DingTalk / WeCom / webhook / SMTP notices"
RUN install -d -o 10001 -g 10001 /var/lib/sluice/captures
EXPOSE 18093 18025
USER 10001:10001
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 CMD ["sluice-healthcheck", "18093", "/captures"]
# Last, so a new commit rebuilds no layer but this one.
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG SLUICE_BINARIES
ARG BINARIES_FROM=""
LABEL org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      sluice.binaries="${SLUICE_BINARIES}" \
      sluice.binaries.from="${BINARIES_FROM}"
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/sluice-capture-server"]
CMD ["--addr", "0.0.0.0:18093", "--dir", "/var/lib/sluice/captures"]

# ---- sluice-agent (for hosts: usually installed as a package; this image runs it in a container)
FROM runtime AS sluice-agent
COPY --from=binaries /out/sluice-agent/packages /tmp/packages
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked,id=sluice-apt-cache \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked,id=sluice-apt-lists \
    apt-get install -y -q --no-install-recommends $(cat /tmp/packages)
COPY --from=binaries /out/sluice-agent/bin/ /usr/local/bin/
LABEL org.opencontainers.image.title="sluice/sluice-agent" \
      org.opencontainers.image.description="sluice-agent: downloads, verifies, installs, switches and health-checks releases on a host"
RUN install -d -o 10001 -g 10001 /var/lib/sluice/agent
ENV SLUICE_AGENT_ADDR=0.0.0.0:7070 SLUICE_AGENT_ROOT=/var/lib/sluice/agent
EXPOSE 7070
USER 10001:10001
HEALTHCHECK --interval=5s --timeout=3s --start-period=20s --retries=3 CMD ["sluice-healthcheck", "7070", "/readyz"]
# Last, so a new commit rebuilds no layer but this one.
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG SLUICE_BINARIES
ARG BINARIES_FROM=""
LABEL org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      sluice.binaries="${SLUICE_BINARIES}" \
      sluice.binaries.from="${BINARIES_FROM}"
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/sluice-agent"]

# ---- a demo host: sluice-agent plus the libraries the demo application's releases load --------
FROM runtime AS host
COPY --from=binaries /out/host/packages /tmp/packages
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked,id=sluice-apt-cache \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked,id=sluice-apt-lists \
    apt-get install -y -q --no-install-recommends $(cat /tmp/packages)
# The demo application's binary rides along (/usr/local/lib/sluice) for `make compose-up` to pack
# releases from; the agent installs releases from their artifacts, never from here.
COPY --from=binaries /out/host/bin/sluice-agent /out/host/bin/sluice-demo-load /usr/local/bin/
COPY --from=binaries /out/host/bin/sluice-demo-app /usr/local/lib/sluice/sluice-demo-app
LABEL org.opencontainers.image.title="sluice/host" \
      org.opencontainers.image.description="A demo host: sluice-agent and the runtime of the demo application"
RUN install -d -o 10001 -g 10001 /var/lib/sluice/agent /var/lib/sluice/state
ENV SLUICE_AGENT_ADDR=0.0.0.0:7070 SLUICE_AGENT_ROOT=/var/lib/sluice/agent \
    DEMO_APP_ADDR=0.0.0.0:8000 DEMO_APP_STATE_DIR=/var/lib/sluice/state
EXPOSE 7070 8000
USER 10001:10001
HEALTHCHECK --interval=5s --timeout=3s --start-period=20s --retries=3 CMD ["sluice-healthcheck", "7070", "/readyz"]
# Last, so a new commit rebuilds no layer but this one.
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG SLUICE_BINARIES
ARG BINARIES_FROM=""
LABEL org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      sluice.binaries="${SLUICE_BINARIES}" \
      sluice.binaries.from="${BINARIES_FROM}"
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/sluice-agent"]

# ---- the CLI (last: the default target) ---------------------------------------------------------
FROM runtime AS sluice
COPY --from=binaries /out/sluice/packages /tmp/packages
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked,id=sluice-apt-cache \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked,id=sluice-apt-lists \
    apt-get install -y -q --no-install-recommends $(cat /tmp/packages)
COPY --from=binaries /out/sluice/bin/ /usr/local/bin/
LABEL org.opencontainers.image.title="sluice/sluice" \
      org.opencontainers.image.description="The sluice command line"
USER 10001:10001
HEALTHCHECK NONE
# Last, so a new commit rebuilds no layer but this one.
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG SLUICE_BINARIES
ARG BINARIES_FROM=""
LABEL org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      sluice.binaries="${SLUICE_BINARIES}" \
      sluice.binaries.from="${BINARIES_FROM}"
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/sluice"]
CMD ["--help"]
