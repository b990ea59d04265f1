# syntax=docker/dockerfile:1
#
# One image per service, each with only its own dependencies:
#
#   docker build --build-arg SERVICE=indicators -t tradelane/indicators .
#
# SERVICE is a workspace member without its `tradelane-` prefix: lineage, notifier, ledger, backtester,
# market-data, indicators, charts, llm-analyst, signals, scheduler or gateway. The image runs
# `python -m tradelane.<service>` as an unprivileged user (uid 10001). The charts image
# also carries Debian's Chromium, which kaleido drives to export PNGs; the gateway image
# also carries the `tradelane` command.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# tini is PID 1: it forwards SIGTERM to the service and reaps Chromium's children.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 tradelane \
    && useradd --system --uid 10001 --gid tradelane --home-dir /home/tradelane --create-home \
        --shell /usr/sbin/nologin tradelane

# Only the workspace's pyproject.toml files and uv.lock: the dependency layer below is
# rebuilt when they change, not when the code does.
FROM base AS manifests
COPY . /src
RUN find /src -type f ! -name pyproject.toml ! -name uv.lock -delete

FROM base AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
ARG SERVICE
RUN test -n "${SERVICE}" || { echo "set --build-arg SERVICE=<lineage|market-data|...|gateway>" >&2; exit 1; }
# The gateway image also carries the `tradelane` command (operator commands, and the
# stream provisioning Job): all it depends on is already a gateway dependency. No extra is
# installed: the embedded NATS and PostgreSQL of `tradelane up` (tradelane-cli's `embedded`
# extra) stay out of every image (tests/deploy/test_image_dependencies.py).
COPY --from=manifests /src /src
RUN --mount=type=cache,target=/root/.cache/uv \
    set -- --package "tradelane-${SERVICE}"; \
    if [ "${SERVICE}" = gateway ]; then set -- "$@" --package tradelane-cli; fi; \
    uv sync --frozen --no-dev --no-install-workspace "$@"
COPY . /src
# --no-editable installs the workspace packages into the venv, so the venv alone is the app.
RUN --mount=type=cache,target=/root/.cache/uv \
    set -- --package "tradelane-${SERVICE}"; \
    if [ "${SERVICE}" = gateway ]; then set -- "$@" --package tradelane-cli; fi; \
    uv sync --frozen --no-dev --no-editable "$@" \
    && printf '#!/bin/sh\nexec python -m tradelane.%s "$@"\n' "$(echo "${SERVICE}" | tr - _)" \
        > /app/.venv/bin/tradelane-service \
    && chmod 0755 /app/.venv/bin/tradelane-service

FROM base AS runtime
ARG SERVICE
# Chromium (and a metric-compatible Arial) only where charts are rendered.
RUN if [ "${SERVICE}" = charts ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends chromium fonts-liberation \
        && rm -rf /var/lib/apt/lists/*; \
    fi
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    VIRTUAL_ENV=/app/.venv \
    TRADELANE_SERVICE=${SERVICE} \
    TRADELANE_GATEWAY_HOST=0.0.0.0
WORKDIR /home/tradelane
USER 10001:10001
# 8080: /livez, /readyz and /metrics of every service; 8000: the gateway's REST API and UI.
EXPOSE 8080 8000
ENTRYPOINT ["tini", "--"]
CMD ["tradelane-service"]
