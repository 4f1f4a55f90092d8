# The lab orchestrator's image: the API and the worker are the same image with a different
# command (docker-compose.yml). TypeScript runs through tsx, as with `npm start`: there is no
# compiled output to drift from the sources that the tests ran.

# Production dependencies only, installed once in a stage of their own so the runtime image
# carries no npm cache, no dev dependencies and no build leftovers.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    LABS_CONFIG=/app/config/compose.yaml
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
COPY heat-templates ./heat-templates
COPY config ./config
COPY checks ./checks
COPY hooks ./hooks
# The image's own unprivileged user: nothing here needs root, and the files above stay
# read-only to it (owned by root).
USER node
EXPOSE 8080
# Node itself is the process (not npm), so SIGTERM from `docker stop` reaches our handler,
# which drains long-polls, heartbeats and running activities before exiting.
CMD ["node", "--import", "tsx", "src/api/main.ts"]
