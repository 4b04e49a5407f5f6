# The enhanced biometric bridge (bridge_service), as auren-biometric-bridge:production-enhanced.
#
#   docker build -t auren-biometric-bridge:production-enhanced .
#   (or: docker compose -f deploy/compose.yaml build biometric-bridge)
#
# Settings come from the environment (deploy/env/bridge.env under compose); an
# invalid one stops the container with one line naming the variable.

# --- build: the project's wheel and every wheel it needs, installed into a venv
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Only what the wheel is built from (.dockerignore keeps everything else out).
COPY pyproject.toml README.md ./
COPY auren_tui ./auren_tui
COPY bridge_service ./bridge_service
COPY themes ./themes

RUN pip wheel --wheel-dir /wheels ".[bridge]" \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-index --find-links /wheels "auren-tui[bridge]"

# --- runtime: the venv only; no compiler, no wheels, no sources
FROM python:3.11-slim

ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8889 \
    DATA_DIR=/app/data

RUN groupadd --system --gid 10001 bridge \
 && useradd --system --uid 10001 --gid bridge --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin bridge \
 && mkdir -p /app/data \
 && chown -R bridge:bridge /app

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
USER 10001:10001

EXPOSE 8889

# slim has no curl: python's urllib, which fails (exit 1) on a 503 from /health too.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8889'), timeout=4)" || exit 1

CMD ["auren-bridge", "serve"]
