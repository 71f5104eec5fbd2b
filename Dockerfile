# syntax=docker/dockerfile:1
# The exchange as one image, in production mode. Run with PostgreSQL: see compose.yaml. Without
# EXCHANGE_DATABASE_URL it uses an SQLite file in /srv/exchange/var (mount a volume there to keep it).

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, in their own layer: rebuilt only when pyproject.toml changes.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt
COPY app ./app
RUN pip install --no-cache-dir .

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
