# pv-lifecycle-operator: built in one stage, run from another with production
# dependencies only, as a non-root user.
#   make image            (docker or podman)
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The node image's unprivileged user; Kubernetes manifests also set runAsNonRoot.
USER 1000:1000
EXPOSE 8080
ENTRYPOINT ["node", "dist/src/main.js"]
