# syntax=docker/dockerfile:1.7
# archon-frontend: the static build of archon-ui-main, served by nginx-unprivileged (UID 101, port 8080,
# pid and temp files in /tmp). Build context: the archon-ui-main folder of an Archon checkout.
# In Kubernetes, docker/frontend/default.conf replaces the image's server block (proxy, headers, SPA fallback).
# NODE_IMAGE builds the bundle (npm ci: exactly Archon's package-lock.json); NGINX_IMAGE serves it (any image laid out
# as nginx-unprivileged: nginx as UID 101 on 8080, temp files in /tmp, conf.d included).
ARG NODE_IMAGE=node:22.20.0-alpine3.22
ARG NGINX_IMAGE=nginxinc/nginx-unprivileged:1.30.4-alpine-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

FROM ${NGINX_IMAGE}
COPY --from=build --chown=101:101 /src/dist /usr/share/nginx/html
USER 101:101
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
