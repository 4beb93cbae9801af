# syntax=docker/dockerfile:1
# Newswire: one image for all three services; docker-compose.yml picks the
# service with `command: ["newswire", "ingest" | "enrich" | "publish"]`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

RUN groupadd --system --gid 10001 newswire \
    && useradd --system --uid 10001 --gid newswire --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin newswire

WORKDIR /app

# Dependencies first, from pyproject.toml alone: this layer is rebuilt only
# when pyproject.toml changes, not on every source edit.
COPY pyproject.toml ./
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"].get("dependencies", [])))' > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the package itself.
COPY README.md ./
COPY schemas ./schemas
COPY services ./services
RUN pip install --no-cache-dir .

# The newswire user above, by number so a runtime can check it is not root.
USER 10001:10001

EXPOSE 8000 8001
CMD ["newswire", "--help"]
