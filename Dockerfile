# syntax=docker/dockerfile:1
# The OpenClaw daemon image (docs/scale-out.md). Stages:
#   toolchain  the official node image (Alpine) with python3/make/g++ for better-sqlite3
#   build      all dependencies (dev included); compiles src/ into dist/ (tsc + the dashboard's vite build)
#   deps       production dependencies only, better-sqlite3 compiled for musl, then pruned
#   runtime    the official alpine image + the node binary + dist/ + the pruned node_modules:
#              non-root, no npm/yarn, works on a read-only root filesystem
#
#   docker build -t openclaw-runtime .
#   docker run --read-only --tmpfs /tmp -v "$PWD/my-project:/project:ro" -v oc-data:/project/.openclaw \
#     -e OPENCLAW_MASTER_KEY=... -p 8400:8400 openclaw-runtime
#
# The project (openclaw.yaml and its agents) is mounted at /project or copied there by an image
# built FROM this one; the daemon writes only to /project/.openclaw (its data directory: SQLite file,
# compiled agents, logs, bootstrap token) and $TMPDIR. Size target and how it was estimated:
# docs/scale-out.md ("The image").
#
# Node 20 is what the test suite runs on; it left upstream support on 2026-04-30. package.json's
# engines accept newer lines: --build-arg NODE_VERSION=22 builds on Node 22.
ARG NODE_VERSION=20
ARG ALPINE_VERSION=3.21

FROM node:${NODE_VERSION}-alpine${ALPINE_VERSION} AS toolchain
# python3, make and g++: node-gyp's fallback when no better-sqlite3 prebuilt binary matches.
RUN apk add --no-cache python3 make g++
WORKDIR /src
COPY package.json package-lock.json ./

FROM toolchain AS build
# --ignore-scripts: `prepare` would build before the sources are copied; nothing here loads SQLite.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && find dist -name '*.map' -delete

FROM toolchain AS deps
COPY deploy/docker/prune-node-modules.sh /usr/local/bin/prune-node-modules
# Only better-sqlite3's install script runs (esbuild's is an optional speed-up: without it the
# JS API finds the binary in @esbuild/linux-*). The addon is loaded once before pruning.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3 \
 && node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()" \
 && sh /usr/local/bin/prune-node-modules node_modules

FROM alpine:${ALPINE_VERSION} AS runtime
# Not FROM node:alpine: its npm, yarn and corepack (~25 MB) would stay in its layers even if deleted.
# The node binary comes from the official node image on the same Alpine release; it needs libstdc++.
# tini as PID 1 forwards SIGTERM to the daemon (which drains and hands its agents over) and reaps
# orphans of command agents. uid/gid 1000 `node`, as in the node images.
RUN apk add --no-cache libstdc++ tini \
 && addgroup -g 1000 node \
 && adduser -u 1000 -G node -s /bin/sh -D node \
 && mkdir -p /project/.openclaw \
 && chown 1000:1000 /project/.openclaw
COPY --from=toolchain /usr/local/bin/node /usr/local/bin/node
ENV NODE_ENV=production \
    TMPDIR=/tmp \
    OPENCLAW_PORT=8400
WORKDIR /app
COPY --from=deps /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json README.md ./
COPY bin ./bin
COPY templates ./templates
RUN ln -s /app/bin/openclaw.js /usr/local/bin/openclaw
# Numeric, so Kubernetes' runAsNonRoot can check it.
USER 1000:1000
WORKDIR /project
EXPOSE 8400
# /readyz answers 200 once startup finished and 503 while starting or draining (src/api/routes/health.ts).
# busybox wget: no second node process per probe. With `api.tls`, probe https with --no-check-certificate.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD wget -q -T 2 -O /dev/null "http://127.0.0.1:${OPENCLAW_PORT}/readyz" || exit 1
ENTRYPOINT ["/sbin/tini", "--", "node", "/app/bin/openclaw.js"]
# `daemon run`: the foreground daemon (token auth by default); 0.0.0.0 so other containers reach it.
CMD ["daemon", "run", "--project", "/project", "--host", "0.0.0.0"]
