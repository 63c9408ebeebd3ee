# Multi-stage build: compile in the Rust image, run as an unprivileged user in
# a slim Debian with only libpq and CA certificates.
FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --locked -p prm-api --bin prm

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home prm
COPY --from=build /src/target/release/prm /usr/local/bin/prm
USER 10001
ENV PRM_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/prm"]
CMD ["serve"]
