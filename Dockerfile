# syntax=docker/dockerfile:1
# Build: libvips headers and cgo. Run: Debian bookworm with libvips only, as a
# non-root user, with the sample images as the default origin. The admin
# listener stays on the container's loopback (the HEALTHCHECK asks it there);
# to scrape /metrics from outside, set IMGEDGE_ADMIN_LISTEN=:9090 and
# IMGEDGE_ADMIN_TOKEN (the edge refuses to start without a token then).
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
 && apt-get install -y --no-install-recommends libvips42 libjemalloc2 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s /usr/lib/$(uname -m)-linux-gnu/libjemalloc.so.2 /usr/local/lib/libjemalloc.so.2 \
 && useradd --system --uid 10001 --home /app imgedge
WORKDIR /app
COPY --from=build /out/imgedge /app/imgedge
COPY bench/images /app/bench/images
USER 10001
ENV IMGEDGE_LISTEN=:8080 \
    LD_PRELOAD=/usr/local/lib/libjemalloc.so.2
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/app/imgedge", "healthcheck"]
ENTRYPOINT ["/app/imgedge"]
