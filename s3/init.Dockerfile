# The s3-init one-shot's runtime: python3 (standard library only) on the stack's base image;
# s3/init.py itself is mounted by compose.yaml. No official image to pin by digest offers less.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
# Debian's version from the suite, upgraded with the base (no exact pin, as in scripts/images/).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/*
# The owner of the secrets-s3 folder it reads (init-secrets.sh).
USER 10030:10030
ENTRYPOINT ["python3", "/opt/s3-init/init.py"]
