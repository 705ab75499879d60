# Sicuro server image.
#
#   docker build -t sicuro .
#
# Two stages: `build` compiles the server and the WASM front end with cargo-leptos; the final
# stage is Debian slim with git, the Docker CLI, the binary and the site, run by a non-root user.
# Job containers run on the host's Docker engine, reached through the mounted socket
# (see docker-compose.yml and docs/deploy.md).
#
# Every base image is a build argument, so sites without Docker Hub can use their own copies:
#   docker build --build-arg RUST_IMAGE=registry.example.com/rust:1.95-slim-trixie \
#                --build-arg RUNTIME_IMAGE=registry.example.com/debian:trixie-slim -t sicuro .
# Behind a TLS-inspecting proxy, pass its CA certificates (PEM text, not secret; visible in
# `docker history`); both stages trust them, and the server passes them on to job images:
#   docker build --build-arg EXTRA_CA_CERTS="$(cat /usr/local/share/ca-certificates/*.crt)" -t sicuro .
#
# The lock file needs rustc >= 1.91 (cargo-platform 0.3.3, a build dependency of octocrab).
ARG RUST_IMAGE=rust:1.95-slim-trixie
ARG RUNTIME_IMAGE=debian:trixie-slim
ARG EXTRA_CA_CERTS=""

# ---------------------------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS build

ARG EXTRA_CA_CERTS
ARG DEBIAN_FRONTEND=noninteractive
ARG CARGO_LEPTOS_VERSION=0.3.10
# wasm-opt from npm: Debian's binaryen package (108) produces WASM that fails to hydrate.
ARG BINARYEN_VERSION=132.0.0

RUN if [ -n "$EXTRA_CA_CERTS" ]; then \
      mkdir -p /usr/local/share/ca-certificates \
      && printf '%s\n' "$EXTRA_CA_CERTS" > /usr/local/share/ca-certificates/sicuro-extra.crt \
      && update-ca-certificates; \
    fi

# make + perl: cargo-leptos builds a vendored OpenSSL; node + npm: wasm-opt (npm binaryen).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates make perl pkg-config nodejs npm \
 && rm -rf /var/lib/apt/lists/*

# The build tools, in layers of their own so that a source change does not rebuild them.
RUN rustup target add wasm32-unknown-unknown
RUN cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked
RUN npm install --prefix /opt/binaryen --no-audit --no-fund "binaryen@$BINARYEN_VERSION"
ENV PATH=/opt/binaryen/node_modules/.bin:$PATH

WORKDIR /src
# wasm-bindgen-cli must match the wasm-bindgen version in Cargo.lock exactly
# (installed without --locked: one of its locked dependency versions is gone from crates.io).
COPY Cargo.lock ./
RUN wbg=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock) \
 && test -n "$wbg" \
 && cargo install wasm-bindgen-cli --version "$wbg"

COPY . .
# Only the results stay in the layer (target/ is about 2.5 GB and no later build reuses it).
RUN cargo leptos build --release --split \
 && test -f target/site/pkg/sicuro.wasm \
 && mkdir /out \
 && cp target/release/sicuro /out/sicuro \
 && strip /out/sicuro \
 && cp -r target/site /out/site \
 && rm -rf target

# ---------------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE}

ARG EXTRA_CA_CERTS
ARG DEBIAN_FRONTEND=noninteractive

# git, git-lfs: repository mirrors and checkouts (LFS files). docker-cli: images/base/bootstrap.sh pulls the root job image with it.
# tini: PID 1 that passes SIGTERM on and reaps git's children. curl: the health check.
# (Add openssh-client to build repositories cloned over ssh.)
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl docker-cli git git-lfs tini \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && if [ -n "$EXTRA_CA_CERTS" ]; then \
      printf '%s\n' "$EXTRA_CA_CERTS" > /usr/local/share/ca-certificates/sicuro-extra.crt \
      && update-ca-certificates; \
    fi \
 && groupadd --system --gid 10001 sicuro \
 && useradd --system --uid 10001 --gid sicuro --home-dir /home/sicuro --create-home \
      --shell /usr/sbin/nologin sicuro \
 && mkdir -p /data \
 && chown sicuro:sicuro /data

COPY --from=build /out/sicuro /usr/local/bin/sicuro
COPY --from=build /out/site /usr/share/sicuro/site

# The socket's group differs per host: add it at run time (`group_add` in docker-compose.yml,
# `--group-add "$(stat -c %g /var/run/docker.sock)"` with docker run).
# NO_COLOR: plain log lines for `docker logs` and log collectors.
ENV SICURO_LISTEN=0.0.0.0:3000 \
    SICURO_DATA_DIR=/data \
    SICURO_SITE_ROOT=/usr/share/sicuro/site \
    NO_COLOR=1 \
    LANG=C.UTF-8

USER sicuro:sicuro
WORKDIR /data
VOLUME /data
EXPOSE 3000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD curl -fsS -o /dev/null "http://127.0.0.1:${SICURO_LISTEN##*:}/healthz" || exit 1

ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/sicuro"]
CMD ["serve"]
