# giftq's one image: the API, the workers, beat and Flower run from it (docker-compose.yml gives each its command).
# No setting and no secret is baked in: every one comes from the environment at run time (.env, see .env.example).

# Stage 1: giftq built as a wheel, so the image holds the package as installed, not a source tree.
FROM python:3.11.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY config ./config
COPY schemas ./schemas
COPY worker ./worker
COPY api ./api
COPY tasks ./tasks
COPY sandbox ./sandbox
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" \
      > /wheels/requirements.txt

# Stage 2: the run-time image.
FROM python:3.11.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --system --gid 10001 giftq \
 && useradd --system --uid 10001 --gid giftq --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin giftq
WORKDIR /app

# giftq's dependencies at the versions of constraints.txt, in a layer of their own: rebuilt only when they change.
COPY --from=build /wheels/requirements.txt /tmp/requirements.txt
COPY constraints.txt /tmp/constraints.txt
RUN pip install --constraint /tmp/constraints.txt --requirement /tmp/requirements.txt \
 && rm /tmp/requirements.txt /tmp/constraints.txt

# giftq itself, not editable, leaving the pinned dependencies as they are.
COPY --from=build /wheels /tmp/wheels
RUN pip install --no-deps /tmp/wheels/giftq-*.whl \
 && rm -rf /tmp/wheels

USER 10001:10001
EXPOSE 8000 5555
# The API's /health (503 when its store is unreachable); compose gives the other services checks of their own.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
CMD ["giftq", "api", "--bind", "0.0.0.0:8000"]
