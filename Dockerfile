# fastify-pusher hub image.
#
#   docker build -t fastify-pusher .
#   docker run --rm -p 3000:3000 -e JWT_SECRET=... -e PUSHER_API_KEY=... fastify-pusher
#
# `npm start` compiles TypeScript before starting, so it needs the dev dependencies.
# The image compiles once at build time instead and starts the built server directly,
# which lets the runtime stage carry production dependencies only.

# ---- build: install everything, compile TypeScript to dist/, drop dev dependencies
FROM node:20-bookworm-slim AS build
WORKDIR /app
# Dependencies first: this layer is reused until package*.json change.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# ---- runtime
FROM node:20-bookworm-slim
# Set only here: `npm ci` with NODE_ENV=production would skip TypeScript. Production
# also makes the hub refuse PUSHER_DEV (throwaway secrets).
ENV NODE_ENV=production
# Inside a container the hub must listen on every interface, not only loopback.
ENV FASTIFY_ADDRESS=0.0.0.0
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Where PUSHER_DB may keep the durable-message file; a volume mounted here starts with
# this ownership, so the hub (user node) can write it.
RUN mkdir /data && chown node:node /data
USER node
EXPOSE 3000
# Liveness: the process serves (GET /health). Docker reports it (docker ps, compose's
# `condition: service_healthy`), and Swarm replaces a task that stays unhealthy. Not
# GET /ready: a Redis outage makes every node unready at once, and restarting them all
# would not bring Redis back (the compose files check /ready, where health is only shown).
# Node images have no curl: Node's own fetch, with PORT and FASTIFY_PREFIX read as the
# hub reads them. (No `$` in the command: compose files would try to interpolate it.)
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+(process.env.FASTIFY_PREFIX||'')+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# What `npm start` runs, without the build step. Configure with environment
# variables: JWT_SECRET and PUSHER_API_KEY (required), PORT (default 3000), and the
# others in docs/configuration.md.
CMD ["node", "dist/bin/pusher-hub.js"]
