# syntax=docker/dockerfile:1.7
# pharmatrack: the builder compiles the contracts with a pinned native solc; the runtime runs
# gunicorn as a non-root user with the compiled artifacts baked in.

ARG PYTHON_VERSION=3.11
ARG NODE_VERSION=20

FROM node:${NODE_VERSION}-bookworm-slim AS node-deps
WORKDIR /src
COPY package.json package-lock.json ./
# The image needs the OpenZeppelin sources, swagger-ui-dist, htmx and @zxing/library (anvil and solcjs are dev tools).
RUN npm ci --omit=optional --ignore-scripts --no-audit --no-fund

FROM python:${PYTHON_VERSION}-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY setup.cfg pyproject.toml README.md ./
COPY app ./app
RUN python -m venv /opt/venv && /opt/venv/bin/pip install .
# py-solc-x fetches the pinned release from the Solidity project's binary list and verifies its
# checksum; the compiler module finds it there and uses it instead of solcjs.
RUN /opt/venv/bin/python -c "import solcx; solcx.install_solc('0.8.30')"
COPY contracts ./contracts
COPY --from=node-deps /src/node_modules/@openzeppelin ./node_modules/@openzeppelin
RUN /opt/venv/bin/python -m app.cli compile

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
# PYTHONPATH puts the source tree first, so contracts/, migrations/ and build/ resolve next to it.
ENV PATH=/opt/venv/bin:$PATH PYTHONPATH=/app PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 PORT=8000 PHARMATRACK_DATA_DIR=/var/lib/pharmatrack
RUN groupadd --system pharmatrack \
    && useradd --system --gid pharmatrack --home-dir /app --no-create-home pharmatrack \
    && mkdir -p /var/lib/pharmatrack /app/deployments \
    && chown pharmatrack:pharmatrack /var/lib/pharmatrack /app/deployments
WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
COPY app ./app
COPY contracts ./contracts
COPY migrations ./migrations
COPY --from=builder /src/node_modules ./node_modules
# Swagger UI's assets, served at /docs/assets/ (app/api/security.py): /docs needs no CDN.
COPY --from=node-deps /src/node_modules/swagger-ui-dist ./node_modules/swagger-ui-dist
# htmx and the camera's DataMatrix reader for the pages, served at /assets/ (app/web/session.py)
COPY --from=node-deps /src/node_modules/htmx.org/dist ./node_modules/htmx.org/dist
COPY --from=node-deps /src/node_modules/@zxing/library/umd ./node_modules/@zxing/library/umd
COPY --from=builder /src/build ./build
USER pharmatrack
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['PORT'], timeout=2)"
CMD ["sh", "-c", "exec gunicorn --workers ${WEB_CONCURRENCY:-2} --worker-class gthread --threads ${WEB_THREADS:-8} --bind ${HOST}:${PORT} --access-logfile - app.wsgi:app"]
