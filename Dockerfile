# Builds both binaries; the compose file runs the service and the cron runner
# from this one image.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --workspace

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/models-cache /src/target/release/vercel-like-cron /usr/local/bin/
WORKDIR /app
COPY gateways.toml ./gateways.toml
COPY examples ./examples
COPY vercel-like-cron/vercel.json ./vercel.json
ENV BIND_ADDR=0.0.0.0:3000
EXPOSE 3000
CMD ["models-cache"]
