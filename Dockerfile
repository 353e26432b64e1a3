# syntax=docker/dockerfile:1
# The model service image: `modelward serve` with the example models (or your own).
#   docker build -t modelward:0.1.0 .
#   docker build -t my-model:1.0 --build-arg MODELS=path/to/models .
# Runs as a non-root user (uid 10000) and works with a read-only root filesystem: everything it
# writes goes to /tmp (an emptyDir in the rendered Deployment).

FROM python:3.11-slim AS build
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ARG MODELS=examples
ARG USER_UID=10000
ARG USER_GID=10000

LABEL org.opencontainers.image.title="modelward model service" \
      org.opencontainers.image.description="Signed, policy-checked, governed model serving." \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="python:3.11-slim"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MODELWARD_HOST=0.0.0.0 \
    MODELWARD_PORT=8000 \
    MODELWARD_DATA_DIR=/tmp/modelward \
    MODELWARD_CONFIG=/service/configuration/rest_config.yaml

RUN groupadd --gid ${USER_GID} modelward \
    && useradd --uid ${USER_UID} --gid ${USER_GID} --no-create-home --shell /usr/sbin/nologin modelward

COPY src/modelward/deploy/image/requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir --requirement /tmp/requirements.txt && rm /tmp/requirements.txt
COPY --from=build /wheels /tmp/wheels
RUN pip install --no-cache-dir --no-deps /tmp/wheels/*.whl && rm -rf /tmp/wheels

WORKDIR /service
COPY ${MODELS} /service/

USER ${USER_UID}:${USER_GID}
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=2)"]
ENTRYPOINT ["modelward"]
CMD ["serve"]
