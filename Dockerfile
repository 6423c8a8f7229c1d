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
# The README's build line, verbatim (TestBuildLineIsOne holds them together).
RUN go build -trimpath -ldflags "-X main.version=$(git describe --tags --always --dirty)" -o /usr/local/bin/imgedge .

FROM debian:bookworm-slim
# glibc's allocator, which the edge tunes itself (two arenas, malloc_trim when
# idle): in repeated interleaved floods jemalloc kept 20-35 MB less after a
# burst of misses but rendered 6-8 % fewer of them (bench/RESULTS.md, "misses against a bare govips loop").
RUN apt-get update \
 && apt-get install -y --no-install-recommends libvips42 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /app imgedge
WORKDIR /app
COPY --from=build /usr/local/bin/imgedge /app/imgedge
COPY bench/images /app/bench/images
USER 10001
ENV IMGEDGE_LISTEN=:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/app/imgedge", "healthcheck"]
ENTRYPOINT ["/app/imgedge"]
