# streamctl, built from this package: the CLI with redis-server (for the embedded deployment).
#   docker build -t streamctl .
#   docker run --rm --network host streamctl up --home /data --metrics-port 9464
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY bench ./bench
# `prepare` builds dist/.
RUN npm ci --no-audit --no-fund

FROM node:20-bookworm-slim
RUN apt-get update \
  && apt-get install -y --no-install-recommends redis-server \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build again, without the compiler.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY --from=build /src/dist ./dist
COPY scenarios ./scenarios
COPY deploy ./deploy
ENTRYPOINT ["node", "/app/dist/bin/streamctl.js"]
CMD ["--help"]
