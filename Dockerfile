# The operator's image: multi-stage, non-root, and happy with a read-only root filesystem (the
# chart mounts an emptyDir at /tmp and writes nothing else). It cannot be built on our own
# machines (no Docker engine); test/image/dockerfile.test.ts checks it against the chart and
# hack/versions.sh instead: the Node.js version, the user, the ports and the entry point.
#
#   docker build -t dns01-operator:0.1.0 .
ARG NODE_VERSION=24.22.3

# Build: compile TypeScript, then keep only the production dependencies.
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev --no-audit --no-fund

# Run: the same Node.js, no compiler, no npm cache, owned by root and run as the unprivileged
# `node` user (uid 1000, the chart's runAsUser), so the process cannot change its own code.
FROM node:${NODE_VERSION}-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
USER 1000:1000
# 9402: /metrics (cert-manager's port); 9403: /healthz and /readyz.
EXPOSE 9402 9403
ENTRYPOINT ["node", "dist/main.js"]
