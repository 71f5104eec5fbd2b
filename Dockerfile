# syntax=docker/dockerfile:1
# The exchange as one image, in production mode. Run with PostgreSQL: see compose.yaml. Without
# EXCHANGE_DATABASE_URL it uses an SQLite file in /srv/exchange/var (mount a volume there to keep it).

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, in their own layer: exactly the lock file (every package pinned with its hashes;
# scripts/lock.sh makes it), rebuilt only when it changes.
COPY requirements/runtime.lock ./requirements/
RUN pip install --no-cache-dir --require-hashes -r requirements/runtime.lock
COPY pyproject.toml README.md ./
COPY app ./app
# The build backend is in the lock too: nothing unpinned is fetched.
RUN pip install --no-cache-dir --no-deps --no-build-isolation .

FROM python:3.11-slim
# Production by default (SPEC §20): development's known secret and demo operator would make any
# `docker run` of the image an open door. The app then refuses to start until EXCHANGE_SECRET_KEY
# (>= 32 characters) and EXCHANGE_PUBLIC_URL (the exchange's external base URL) are set.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    EXCHANGE_ENV=production
RUN groupadd --system --gid 10001 exchange \
    && useradd --system --uid 10001 --gid exchange --home-dir /srv/exchange --no-create-home \
        --shell /usr/sbin/nologin exchange
COPY --from=build /opt/venv /opt/venv
WORKDIR /srv/exchange
# `serve` applies migrations first; it finds alembic.ini in the working directory.
COPY alembic.ini ./
COPY migrations ./migrations
RUN mkdir var && chown exchange:exchange var
USER exchange
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["python", "-m", "app", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "4"]
