# pv-lifecycle-operator: built in one stage, run from another with production
# dependencies only, as a non-root user.
#   make image            (docker or podman)
# BASE selects the Node 24 base of both stages: the official image, or, where
# no registry can be reached, the one scripts/node-base-image.sh builds from
# Debian's packages and the npm registry (make image picks it by itself).
ARG BASE=node:24-bookworm-slim
FROM ${BASE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The builder's extra CA certificates, where it passes them (make image does
# when NODE_EXTRA_CA_CERTS is set, as behind a TLS-inspecting proxy): for npm
# only, never part of the image.
RUN --mount=type=secret,id=extra-ca NODE_EXTRA_CA_CERTS=/run/secrets/extra-ca npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev --no-audit --no-fund

FROM ${BASE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The node image's unprivileged user; Kubernetes manifests also set runAsNonRoot.
USER 1000:1000
# Metrics and probes: 8080 over HTTP by default, 8443 over HTTPS as the manifests run it.
EXPOSE 8080 8443
ENTRYPOINT ["node", "dist/src/main.js"]
