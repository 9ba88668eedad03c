"""The fleet console: one web page and a JSON API (``/api/``, OpenAPI 3.1) served by every replica on its
health port, showing from the database what every replica, job and shard is doing.

``models`` are the typed answers (pydantic), ``queries`` the one query layer that fills them (also used by
``scrapesched status --json``), ``openapi`` describes the API from the models, and ``web`` is the WSGI
app: server-rendered Jinja2 templates that htmx (vendored in ``static/``) refreshes every two seconds.
Write actions (pause, resume, trigger) need ``console_write_token`` and an ``Authorization: Bearer``
header; they are off by default.
"""
