# scrapesched: one image for every replica. Run the same container N times (see deploy/kubernetes.yaml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY scrapesched ./scrapesched
COPY cli ./cli
COPY config ./config
COPY db ./db
COPY locks ./locks
COPY scheduler ./scheduler
COPY scrapers ./scrapers
RUN pip install '.[mysql,postgres,redis]' && rm -rf /src

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin scrapesched
USER 10001
WORKDIR /home/scrapesched

# The embedded default works out of the box; a fleet sets SCRAPESCHED_DATABASE_URL and SCRAPESCHED_LOCK_URL.
ENV SCRAPESCHED_DATABASE_URL=sqlite:////home/scrapesched/scrapesched.db \
    SCRAPESCHED_HTTP_PORT=9090 \
    SCRAPESCHED_LOG_FORMAT=json
EXPOSE 9090

# `run` needs a schedule: mount a TOML file and pass `--config FILE run` (or set SCRAPESCHED_CONFIG);
# with nothing scheduled it exits 2 with one line saying so.
ENTRYPOINT ["scrapesched"]
CMD ["run"]
