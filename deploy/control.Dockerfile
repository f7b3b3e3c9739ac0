# The control plane. Build context: the repository root (see
# control.Dockerfile.dockerignore for what is sent).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# openssl: `control render` makes the self-signed WSS certificate
RUN apt-get -q update \
 && apt-get -q -y install --no-install-recommends openssl \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml ./
COPY control/ control/
COPY agi/ agi/
RUN pip install . && rm -rf build *.egg-info
# Templates and data read at run time from the project root
COPY asterisk/ asterisk/
COPY kamailio/ kamailio/
COPY dialplans/ dialplans/
COPY web/ web/
# control.settings finds the templates next to the package (PROJECT_ROOT is
# the folder above control/): run the code in /app, not the copy that pip put
# in site-packages. pip still provides the dependencies and `aitcomms`.
ENV PYTHONPATH=/app
ENTRYPOINT ["python", "-m", "control"]
CMD ["serve"]
