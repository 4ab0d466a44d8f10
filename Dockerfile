# Runyard server and worker image: slim, non-root, dependencies exactly as locked in uv.lock.
#   docker build -t runyard .
#   docker run -p 5000:5000 runyard            # embedded SQLite + ./mlartifacts under /data
#   docker build --build-arg RUNYARD_EXTRAS= -t runyard:api .   # without the web UI (a much smaller image)
FROM python:3.11-slim AS build
# The web UI is MLflow's own build, which only the full `mlflow` wheel carries (the `ui` extra).
ARG RUNYARD_EXTRAS=ui
COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /app
# Dependencies first, from the lock file alone, so code changes reuse this layer.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-install-project --no-editable ${RUNYARD_EXTRAS:+--extra $RUNYARD_EXTRAS}
COPY server ./server
COPY migrations ./migrations
RUN uv sync --frozen --no-editable ${RUNYARD_EXTRAS:+--extra $RUNYARD_EXTRAS}

FROM python:3.11-slim
RUN useradd --system --uid 10001 --create-home --home-dir /data runyard
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MLFLOW_BACKEND_STORE_URI=sqlite:////data/runyard.db \
    MLFLOW_ARTIFACTS_DESTINATION=/data/mlartifacts \
    MLFLOW_HOST=0.0.0.0
USER runyard
WORKDIR /data
VOLUME ["/data"]
EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/ready', timeout=3)"]
CMD ["runyard", "server"]
