# Build Sheriff: `docker build -t buildsheriff .` then
# `docker run --env-file .env -p 3000:3000 buildsheriff` (the .env `register` wrote).
FROM python:3.11-slim-bookworm

# git >= 2.38 for `git merge-tree --write-tree` (Debian bookworm ships 2.39); the server
# checks the version at start-up and refuses to run with an older one.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /srv/buildsheriff
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install . && rm -rf build ./*.egg-info
# `register` reads the manifest from the working directory.
COPY app.yml ./

# An unprivileged user, by number so that `runAsNonRoot` can verify it.
RUN groupadd --system --gid 10001 sheriff \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin sheriff
USER 10001:10001

ENV HOST=0.0.0.0 \
    PORT=3000 \
    LOG_FORMAT=json
EXPOSE 3000

# Liveness: /healthz answers 200 while the process can take webhooks (503 while draining).
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]

# SIGTERM drains the queue and exits 0 (SHUTDOWN_TIMEOUT, default 25 s, fits Docker's 10 s
# only if lowered: run with --stop-timeout 30 or set SHUTDOWN_TIMEOUT=8).
STOPSIGNAL SIGTERM
CMD ["python", "-m", "app", "serve"]
