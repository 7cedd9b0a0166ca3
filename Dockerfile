# syntax=docker/dockerfile:1
# entropy-budget: `docker build -t entropy-budget .`, then see docker-compose.yml and
# docs/operations.md. tests/deploy/ checks this file against the app, the CLI and CI.

# --- builder: build the wheel and install it, with the locked dependencies (hash-checked), ---
# --- into /opt/entropy-budget                                                              ---
FROM python:3.11-slim AS builder
WORKDIR /src
COPY requirements/runtime.txt requirements/build.txt requirements/
COPY pyproject.toml README.md alembic.ini ./
COPY alembic/ alembic/
COPY app/ app/
COPY deploy/install.sh deploy/install.sh
# The same script the test suite runs (tests/deploy/test_installed_wheel.py).
RUN sh deploy/install.sh /opt/entropy-budget

# --- runtime: the virtualenv only; no compilers, no source tree, not root ---
FROM python:3.11-slim
RUN groupadd --system --gid 10001 entropy \
    && useradd --system --uid 10001 --gid entropy --home-dir /var/lib/entropy-budget \
        --shell /usr/sbin/nologin entropy \
    && install -d -o entropy -g entropy /var/lib/entropy-budget /var/lib/entropy-budget/data
COPY --from=builder /opt/entropy-budget /opt/entropy-budget
# WEB_CONCURRENCY is `entropy-budget serve --workers` (uvicorn worker processes per container):
# override it per deployment; see the pool arithmetic in docker-compose.yml.
ENV PATH=/opt/entropy-budget/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    WEB_CONCURRENCY=2
# Without DATABASE_URL the service uses SQLite in ./data/: /var/lib/entropy-budget/data, owned by
# the user, so a volume mounted there starts out writable.
WORKDIR /var/lib/entropy-budget
USER 10001:10001
EXPOSE 8000
# Healthy means ready: GET /readyz answers 200 once the database answers and its schema is at the
# migrations' head (compose starts nginx only then). python, not curl: the slim image has no
# curl. No answer or a 4xx/5xx exits non-zero.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"]
ENTRYPOINT ["entropy-budget"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
