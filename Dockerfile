# syntax=docker/dockerfile:1
# One image per loadlens binary, chosen with a build argument:
#   docker build --build-arg BINARY=loadlens-demo     --build-arg VERSION=0.1.0 -t loadlens/demo:0.1.0 .
#   docker build --build-arg BINARY=loadlens-exporter --build-arg VERSION=0.1.0 -t loadlens/exporter:0.1.0 .
# Static binary (CGO off) on distroless static, running as the nonroot user
# (65532). No secrets are baked in: DSNs and passwords come from the
# environment at run time.

# The Go version of go.mod (internal/manifests checks that they agree).
FROM golang:1.26 AS build
WORKDIR /src
# Modules first: this layer is reused until go.mod or go.sum changes.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG BINARY=loadlens-demo
ARG VERSION=dev
ARG REVISION=unknown
# -trimpath: no build machine paths in the binary; -s -w: no symbol table or
# DWARF; -X: the version reported by --version and the *_build_info metric.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags "-s -w -X github.com/prometheus/common/version.Version=${VERSION} -X github.com/prometheus/common/version.Revision=${REVISION} -X github.com/prometheus/common/version.Branch=HEAD" \
      -o /out/loadlens ./cmd/${BINARY}

FROM gcr.io/distroless/static-debian12:nonroot
ARG BINARY=loadlens-demo
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="${BINARY}" \
      org.opencontainers.image.description="loadlens: why does my Go service stop scaling, and did the autoscaler react?" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/loadlens/loadlens"
COPY --from=build /out/loadlens /loadlens
USER nonroot:nonroot
ENTRYPOINT ["/loadlens"]
