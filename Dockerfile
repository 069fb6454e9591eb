# The production image: one image, every role (web, the workers per queue, beat, migrate) chosen by the
# command; the web command is deploy/topology.py's (tests/test_compose.py checks it).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 VAR_DIR=/var/lib/firma STATIC_ROOT=/app/staticfiles
WORKDIR /app

# WeasyPrint (sample exam records) renders through Pango and subsets fonts with HarfBuzz.
RUN apt-get update && apt-get install -y --no-install-recommends \
      libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --home /var/lib/firma --create-home firma

COPY pyproject.toml README.md ./
RUN pip install --no-cache-dir .
COPY . .
# Static files are collected (hashed and compressed, as production serves them) at build time; the
# throw-away key of this step is not the one the containers run with.
RUN DJANGO_SECRET_KEY=collectstatic-only-$(python -c 'import secrets; print(secrets.token_urlsafe(48))') \
    DJANGO_DEBUG=false DJANGO_ALLOWED_HOSTS=build RECAPTCHA_PUBLIC_KEY=build RECAPTCHA_PRIVATE_KEY=build VAR_DIR=/tmp/build-var python manage.py collectstatic --no-input \
    && rm -rf /tmp/build-var && chown -R firma /var/lib/firma

USER firma
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--config", "config/gunicorn_metrics.py", "--bind", "0.0.0.0:8000", "--workers", "2", "--access-logfile", "-"]
