# syntax=docker/dockerfile:1
# Pixelflow's container image: one image, every role (`serve`, `api`, `worker`, `relay`, the admin
# commands). Build: docker build -t pixelflow . ; run: docker run -p 8080:8080 pixelflow
# test/deploy/dockerfile.test.ts checks the rules below and runs the final stage's command locally.

ARG NODE_VERSION=20.20.2

# Build stage: every dependency (TypeScript included) to compile src/ into dist/.
FROM node:${NODE_VERSION}-bookworm AS build
WORKDIR /app
# The typed client is an npm workspace (packages/client) that the CLI imports: its manifest comes
# with the root's so that npm ci links it.
COPY package.json package-lock.json ./
COPY packages/client/package.json ./packages/client/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY packages/client ./packages/client
# The dashboard (ui/: Preact, built by Vite into ui/dist, served at /ui).
COPY ui ./ui
COPY src ./src
RUN npm run build

# Final stage: production dependencies only (no compiler, no TypeScript), a non-root user, tini as
# PID 1 so SIGTERM reaches Node (running jobs get PIXELFLOW_SHUTDOWN_GRACE_MS, then go back to the
# queue). libvips comes with sharp's prebuilt @img/sharp-libvips-linux-* package, not from apt.
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
# Memory: fewer glibc arenas, buffers above 128 KB handed back when freed, and a V8 young generation
# that stays small; what each saves is in deploy/process-env.ts and docs/operations.md. npm start
# sets the same, and test/deploy/process-env.test.ts holds both to that list.
ENV NODE_ENV=production \
  MALLOC_ARENA_MAX=2 \
  MALLOC_MMAP_THRESHOLD_=131072 \
  NODE_OPTIONS=--max-semi-space-size=2 \
  PIXELFLOW_HOST=0.0.0.0 \
  PIXELFLOW_PORT=8080 \
  PIXELFLOW_DATA_DIR=/data
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/client/package.json ./packages/client/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/packages/client/dist ./packages/client/dist
COPY --from=build /app/dist ./dist
COPY --from=build /app/ui/dist ./ui/dist
# The embedded parts (SQLite shards and queue, local objects) live under /data: mount a volume.
RUN mkdir -p /data && chown node:node /data
# The `node` user of the official image, by number so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PIXELFLOW_PORT || process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/start/main.js", "serve"]
