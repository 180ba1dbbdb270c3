# The conversation router: one image, its role chosen by the command.
#
#   docker run IMAGE                        router serve (HTTP API + webhooks, port 8000)
#   docker run IMAGE serve --with-consumer  API and routing engine in one process (small installs)
#   docker run IMAGE consume                the routing engine on Kafka
#   docker run IMAGE migrate                apply the database migrations, then exit
#
# Configuration is the ROUTER_ environment (see README.md). With no ROUTER_DATABASE_URL the
# embedded PostgreSQL keeps its data in ROUTER_DATA_DIR=/var/lib/router (mount a volume there).
#
# BASE_IMAGE must provide `python3` (>= 3.11) with the `venv` module, the same in both stages:
# the official python:3.11-slim image (the default), or a bare Debian bookworm with the
# python3, python3-venv and ca-certificates packages (see scripts/container-smoke).
ARG BASE_IMAGE=python:3.11-slim

# --------------------------------------------------------------------------------------------
# Build: a wheel of the project, installed with its locked dependencies into the venv /opt/router.
FROM ${BASE_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1

# Tools that only build the wheel live in their own venv and stay in this stage.
RUN --mount=type=cache,target=/root/.cache/pip \
    python3 -m venv /opt/build \
    && /opt/build/bin/pip install "hatchling>=1.25" \
    && python3 -m venv /opt/router

WORKDIR /src

# Dependencies first, from the lock alone (exact versions, every file checked against its
# hash), so that a change of the code reuses this layer and two builds install the same bytes.
COPY requirements/runtime.txt ./requirements/
RUN --mount=type=cache,target=/root/.cache/pip \
    /opt/router/bin/pip install --only-binary=:all: --require-hashes -r requirements/runtime.txt

# The project itself. .gitignore is in the context so hatchling leaves out what git ignores;
# pyproject.toml force-includes migrations/ into the wheel as router/_migrations.
COPY .gitignore README.md pyproject.toml ./
COPY src ./src
COPY migrations ./migrations
RUN --mount=type=cache,target=/root/.cache/pip \
    /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/dist . \
    && /opt/router/bin/pip install --no-deps --no-compile /tmp/dist/conversation_router-*.whl \
    && /opt/router/bin/pip check \
    && test -f "$(/opt/router/bin/python -c 'import router.migrate as m; print(m.migrations_dir())')/env.py" \
    && /opt/router/bin/python -m compileall -q /opt/router/lib \
    && /opt/router/bin/pip uninstall --yes pip setuptools \
    && /opt/router/bin/router --version

# --------------------------------------------------------------------------------------------
# Runtime: the base image, the venv and a non-root user; no compilers, no pip caches.
FROM ${BASE_IMAGE} AS runtime

LABEL org.opencontainers.image.title="conversation-router" \
      org.opencontainers.image.description="Omnichannel conversation router: serve, consume, migrate" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed uid/gid (10001) so that volumes and `runAsUser` policies can name it. The embedded
# PostgreSQL refuses to run as root and keeps its data in ROUTER_DATA_DIR, so that folder
# belongs to this user; /run/router is its private XDG runtime folder (locks, sockets).
RUN groupadd --gid 10001 router \
    && useradd --uid 10001 --gid router --home-dir /var/lib/router --no-create-home \
        --no-log-init --shell /usr/sbin/nologin router \
    && install -d -o router -g router -m 0750 /var/lib/router \
    && install -d -o router -g router -m 0700 /run/router

COPY --from=build /opt/router /opt/router

ENV PATH=/opt/router/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ROUTER_HTTP_HOST=0.0.0.0 \
    ROUTER_HTTP_PORT=8000 \
    ROUTER_DATA_DIR=/var/lib/router \
    XDG_RUNTIME_DIR=/run/router

USER 10001:10001
WORKDIR /var/lib/router
EXPOSE 8000

# Liveness: /healthz of `router serve` (ROUTER_HTTP_PORT) or of `router consume`'s probe
# (ROUTER_CONSUMER_HTTP_PORT), whichever role runs; `router migrate` exits before it matters.
# Python's urllib, so the image needs no curl; never through a proxy from HTTP_PROXY.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, sys, urllib.request as u\nopener = u.build_opener(u.ProxyHandler({}))\nfor port in (os.environ.get('ROUTER_HTTP_PORT', '8000'), os.environ.get('ROUTER_CONSUMER_HTTP_PORT', '8001')):\n    try:\n        opener.open('http://127.0.0.1:%s/healthz' % port, timeout=2)\n        sys.exit(0)\n    except OSError:\n        pass\nsys.exit(1)"]

ENTRYPOINT ["router"]
CMD ["serve"]
