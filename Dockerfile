# The gitopshq image: one binary (`gitopshq controller`, `gitopshq webhook`, the CLI tools) on
# distroless/cc, non-root (uid 65532), fit for a read-only root filesystem.
#
#   docker build -t gitopshq:dev --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) .
#
# BuildKit's cache mounts keep the cargo registry and target folder between builds, so a source
# change recompiles the workspace crates only. Lint: scripts/hadolint.sh.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
WORKDIR /src
# git2 builds libgit2 and libssh2 from their bundled sources and links OpenSSL (https) from the
# system, which distroless/cc provides at run time (libssl3, glibc, libgcc_s: what
# `ldd target/release/gitopshq` lists); zlib, which distroless lacks, is linked in statically.
ENV LIBZ_SYS_STATIC=1 \
    CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p gitopshq --bin gitopshq \
    && install -D -m 0755 target/release/gitopshq /out/gitopshq \
    && mkdir -p /out/cache

FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="gitopshq" \
      org.opencontainers.image.description="GitOpsHQ: a GitOps control plane for platform teams (controllers, admission webhook and CLI)" \
      org.opencontainers.image.source="https://github.com/gitopshq/gitopshq" \
      org.opencontainers.image.url="https://github.com/gitopshq/gitopshq" \
      org.opencontainers.image.documentation="https://github.com/gitopshq/gitopshq#install" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="GitOpsHQ" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"
COPY --from=build /out/gitopshq /usr/local/bin/gitopshq
# Git clones live here; in Kubernetes an emptyDir is mounted over it (readOnlyRootFilesystem).
COPY --from=build --chown=65532:65532 /out/cache /var/cache/gitopshq
# HTTPS Git remotes are verified against the image's CA certificates.
ENV GITOPSHQ_CACHE_DIR=/var/cache/gitopshq \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/gitopshq"]
CMD ["controller"]
