# syntax=docker/dockerfile:1
# Build: libvips headers and cgo. Run: Debian bookworm with libvips only, as a
# non-root user, with the sample images as the default origin.
FROM golang:1.26-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libvips-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o /out/imgedge .

FROM debian:bookworm-slim
# jemalloc returns libvips' freed memory to the system better than glibc's
# allocator after bursts of misses (bench/RESULTS.md, memory and allocators).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libvips42 libjemalloc2 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s /usr/lib/$(uname -m)-linux-gnu/libjemalloc.so.2 /usr/local/lib/libjemalloc.so.2 \
 && useradd --system --uid 10001 --home /app imgedge
WORKDIR /app
COPY --from=build /out/imgedge /app/imgedge
COPY bench/images /app/bench/images
USER 10001
ENV IMGEDGE_LISTEN=:8080 \
    IMGEDGE_ADMIN_LISTEN=:9090 \
    LD_PRELOAD=/usr/local/lib/libjemalloc.so.2
EXPOSE 8080 9090
HEALTHCHECK --interval=10s --timeout=2s --start-period=5s --retries=3 \
  CMD curl -fsS http://127.0.0.1:9090/healthz || exit 1
ENTRYPOINT ["/app/imgedge"]
