# tenant-exporter: one process per container; scale out with replicas (see docs/operations.md).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY exporter ./exporter
RUN pip install . && useradd --system --uid 10001 --home /app exporter && mkdir -p /app/data && chown exporter /app/data
COPY config ./config
USER exporter
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/-/ready', timeout=2)" || exit 1
ENTRYPOINT ["tenant-exporter"]
CMD ["serve"]
