# One image for every process of an installation: the web app (default CMD), the Celery workers,
# Celery beat and the one-shot `intake db upgrade`. docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    OMP_NUM_THREADS=1 \
    INTAKE_INSTANCE_PATH=/var/lib/intake

# The processes run as this unprivileged user. The code stays root-owned and read-only to it; the
# instance folder (uploads, beat schedule) is the only place it writes. A fresh named volume mounted
# there takes this folder's owner and mode (0700, as the app creates it) from the image.
RUN groupadd --system --gid 10001 intake \
    && useradd --system --uid 10001 --gid intake --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin intake \
    && mkdir -p /var/lib/intake \
    && chown intake:intake /var/lib/intake \
    && chmod 0700 /var/lib/intake

# ffmpeg makes the cleaned copies of videos and audio (without it they stay "original only").
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first, in their own layer: rebuilt only when pyproject.toml changes. Only the
# runtime dependencies are installed, never the `test` extra (pytest, Playwright, PyYAML).
COPY pyproject.toml ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" \
       > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Editable install from /app: the app finds `templates/` next to the `intake` package
# (intake/app.py resolves it from the package's parent folder), so the source tree stays in place.
COPY . .
RUN pip install --no-cache-dir -e . \
    && python -m compileall -q intake workers

USER intake:intake

EXPOSE 8000

# No access log: its default format records each client's IP address and the request path, which
# can identify a source. gunicorn's own error log still goes to stderr. Worker processes: set
# WEB_CONCURRENCY (gunicorn reads it). /dev/shm keeps gunicorn's worker heartbeat files off disk.
# No control socket: gunicorn 27 would otherwise try to create one under $HOME, which this user
# does not have (and the root filesystem is read-only in docker-compose.yml). Threaded workers
# whose reads from a client time out (intake.serving, as `intake serve`; INTAKE_WEB_READ_TIMEOUT_SECONDS):
# an idle or stalled client holds one thread for at most that long, never a worker process.
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--worker-class", "intake.serving.ReadTimeoutWorker", \
     "--threads", "32", "--keep-alive", "5", "--timeout", "120", "--worker-tmp-dir", "/dev/shm", \
     "--no-control-socket", "intake.wsgi:app"]
