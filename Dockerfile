# syntax=docker/dockerfile:1
# One image for both services of docker-compose.yml: `web` (the default command: migrate, then gunicorn) and
# `worker` (a Celery worker, threads pool). Secrets never come from here: pass SECRET_KEY (or SECRET_KEY_FILE) and
# DATABASE_URL at run time.
FROM python:3.11-slim-bookworm

# bubblewrap is the sandbox every probe runs in; util-linux brings prlimit and setpriv, which it uses too.
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap util-linux ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# Non-secret defaults (every variable is described in auditor/project/settings.py and the README).
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=auditor.project.settings \
    FORKAUDIT_DATA_DIR=/var/lib/forkaudit \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PORT=8000 \
    WEB_CONCURRENCY=2 \
    WEB_THREADS=4

WORKDIR /src
COPY pyproject.toml README.md ./
COPY auditor ./auditor
COPY webui ./webui
RUN pip install ".[server]"

# The web server runs as an unprivileged user. The data directory exists in the image with that owner, so that a
# named volume mounted on it starts with the same owner.
WORKDIR /
RUN rm -rf /src \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/forkaudit --shell /usr/sbin/nologin forkaudit \
    && install -d -o forkaudit -g forkaudit -m 0700 /var/lib/forkaudit

COPY --chmod=0755 <<'EOF' /usr/local/bin/forkaudit-container
#!/bin/sh
# The container's entrypoint: `web` (default), `worker`, or any other command as given.
set -eu
case "${1:-web}" in
    web)
        [ "$#" -gt 0 ] && shift
        # Through the project's manage module rather than django-admin: it loads the settings first, so a bad one
        # stops the container with one line naming it, not a traceback.
        python -m auditor.project.manage migrate --noinput
        # gthread workers and never --preload: the master forks its workers before anything of the application
        # (which may start threads) is imported. No control socket: gunicorn serves it from a thread of the master.
        exec gunicorn auditor.project.wsgi:application \
            --bind "0.0.0.0:${PORT}" \
            --worker-class gthread --workers "${WEB_CONCURRENCY}" --threads "${WEB_THREADS}" \
            --no-control-socket --access-logfile - "$@"
        ;;
    worker)
        shift
        # The threads pool never forks (the prefork pool forks after the application is loaded); one task per core
        # unless --concurrency is given.
        exec celery -A auditor.project worker --pool threads --loglevel INFO "$@"
        ;;
    *)
        exec "$@"
        ;;
esac
EOF

WORKDIR /var/lib/forkaudit
USER forkaudit
EXPOSE 8000
ENTRYPOINT ["forkaudit-container"]
CMD ["web"]
