# scrapesched: one image for every replica (see deploy/kubernetes/ and docker-compose.yml).
# Two stages: `build` installs the package and its pinned dependencies (constraints.txt) into a virtual
# environment; the final stage copies only that environment onto the same slim base and runs as a non-root
# user. Both stages use the same base, pinned by tag and digest (the multi-arch index digest of
# python:3.11.10-slim-bookworm; tests/test_deployment_files.py checks that they are the same).

FROM python:3.11.10-slim-bookworm@sha256:5148c0e4bbb64271bca1d3322360ebf4bfb7564507ae32dd639322e4952a6b16 AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/scrapesched
WORKDIR /src
COPY constraints.txt pyproject.toml README.md LICENSE ./
COPY scrapesched ./scrapesched
COPY cli ./cli
COPY console ./console
COPY config ./config
COPY db ./db
COPY locks ./locks
COPY scheduler ./scheduler
COPY scrapers ./scrapers
RUN /opt/scrapesched/bin/pip install --constraint constraints.txt 'setuptools>=77' wheel \
 && /opt/scrapesched/bin/pip install --no-build-isolation --constraint constraints.txt '.[mysql,postgres,redis]' \
 && /opt/scrapesched/bin/pip uninstall --yes setuptools wheel

FROM python:3.11.10-slim-bookworm@sha256:5148c0e4bbb64271bca1d3322360ebf4bfb7564507ae32dd639322e4952a6b16
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/scrapesched/bin:$PATH \
    SCRAPESCHED_HTTP_PORT=9090 \
    SCRAPESCHED_LOG_FORMAT=json
RUN useradd --create-home --uid 10001 --user-group --shell /usr/sbin/nologin scrapesched
COPY --from=build /opt/scrapesched /opt/scrapesched
USER 10001
WORKDIR /home/scrapesched
EXPOSE 9090

# /healthz answers when the scheduler loop runs (`run` with SCRAPESCHED_HTTP_PORT); no curl in the image,
# so Python asks. Kubernetes uses its own probes instead (deploy/kubernetes/base/deployment.yaml).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SCRAPESCHED_HTTP_PORT', '9090'), timeout=4)"]

# Without SCRAPESCHED_DATABASE_URL it runs on SQLite in /home/scrapesched (one replica, to try it); a fleet
# sets SCRAPESCHED_DATABASE_URL and SCRAPESCHED_LOCK_URL (or secret files in /run/secrets) and
# SCRAPESCHED_REQUIRE_DATABASE_URL=true. `run` needs a schedule: mount a TOML file and pass
# `--config FILE run` (or set SCRAPESCHED_CONFIG); with nothing scheduled it exits 2 with one line saying so.
ENTRYPOINT ["scrapesched"]
CMD ["run"]
