# One image for every process: `docker run IMAGE [web|worker|migrate|token USER|user ...]`.
# With no command it runs the all-in-one (embedded Postgres and Redis in /data): for a first try only.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATA_DIR=/data

WORKDIR /srv/chat
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

COPY run.py ./
COPY config ./config
COPY app ./app
COPY worker ./worker
COPY templates ./templates
COPY static ./static

RUN useradd --create-home --uid 10001 chat && mkdir -p /data && chown chat /data
USER chat
VOLUME ["/data"]
EXPOSE 8080
# No HEALTHCHECK: the image runs workers too, which serve no HTTP. Probe web containers at GET /health
# (alive) and GET /ready (Postgres, Redis and the queues reachable). See docs/operations.md.

ENTRYPOINT ["python", "run.py"]
CMD []
