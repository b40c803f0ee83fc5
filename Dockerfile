# syntax=docker/dockerfile:1
#
# Tributary's image: the TypeScript sources run directly on Node 24 (type stripping), so there is
# no build step and no dev dependency at run time (nothing outside test/ and bench/ imports one;
# the `node` dev dependency is the Node 24 runtime for npm scripts, replaced here by the base image's).
#
# One image, every process: the entrypoint is the `tributary` CLI and the command picks the process
#   docker run tributary dev                  the API (TRIBUTARY_CONSUMERS=none in the distributed stack)
#   docker run tributary consume embed        one consumer (clean, embed, archive, finetune-trigger, judge, lag-monitor)
#   docker run tributary cdc                  the change-stream relay MongoDB → Kafka
#   docker run tributary topics apply         one-shot: topics as code
# Targets: `runtime` (the default, last stage; no HEALTHCHECK, because only the API serves
# HTTP) and `api` (the same image plus a HEALTHCHECK on GET /healthz and `dev` as command).

ARG NODE_IMAGE=node:24.21.0-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# production dependencies only, exactly as locked; install scripts stay as package.json's allowScripts
# says. The ONNX runtime ships binaries for every OS: only Linux's are kept.
RUN npm ci --omit=dev --no-audit --no-fund \
  && npm cache clean --force \
  && rm -rf node_modules/onnxruntime-node/bin/napi-v*/darwin node_modules/onnxruntime-node/bin/napi-v*/win32

FROM ${NODE_IMAGE} AS base
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
# the sources (.dockerignore keeps tests, benchmarks, deploy files and local data out)
COPY . .
# ./data is the default data directory (TRIBUTARY_DATA_DIR): the only place the processes may write.
# data/datasets exists (owned by node) so that a volume mounted there starts writable by node: in
# docker-compose.yml the finetune-trigger and the API share one for the pinned dataset versions
RUN mkdir -p /app/data/datasets && chown -R node:node /app/data
USER node
ENTRYPOINT ["node", "cli/main.ts"]
CMD ["--help"]

FROM base AS api
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT || 8080}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["dev"]

FROM base AS runtime
