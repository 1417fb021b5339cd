# Production image. Mirrors scripts/setup: the build stage does "npm ci" (with the native
# builds of pkcs11js and sqlite3) and the TypeScript build; the runtime stage carries the two
# software tokens this repository provisions — softhsm2 (the default profile) and libnss3's NSS
# softoken (KMS_HSM_PROFILE=nss) — and runs the rest of setup at start in
# scripts/docker-entrypoint: the NSS database when that profile is chosen (scripts/token-nss),
# token init (service keys), migrations.
#
# A hardware HSM: mount its PKCS#11 library and client configuration into the container and
# set KMS_HSM_PROFILE (a file in hsm/) and KMS_PKCS11_MODULE (the mounted library), plus
# KMS_PKCS11_TOKEN_LABEL and KMS_PKCS11_PIN_FILE. See docs/hsm.md.

FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src src
COPY bench bench
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends softhsm2 libnss3 opensc tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system hsmkms \
 && useradd --system --gid hsmkms --home-dir /var/lib/hsmkms --shell /usr/sbin/nologin hsmkms \
 && mkdir -p /var/lib/hsmkms \
 && chown hsmkms:hsmkms /var/lib/hsmkms \
 && chmod 0700 /var/lib/hsmkms
WORKDIR /app
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY package.json softhsm.conf ./
COPY bin bin
COPY hsm hsm
COPY scripts/token-nss scripts/token-nss
COPY scripts/docker-entrypoint /usr/local/bin/hsmkms-entrypoint
# KMS_HOST=0.0.0.0: serve refuses plain HTTP there unless told how the network is protected
# (docs/deployment.md#tls): mount a certificate and key and set KMS_TLS_CERT_FILE and
# KMS_TLS_KEY_FILE (HTTPS on 8443; plain HTTP then stays on 127.0.0.1, where the health check
# below looks), or set KMS_ALLOW_PLAINTEXT_HTTP=1 behind a TLS-terminating proxy.
ENV NODE_ENV=production \
    KMS_DATA_DIR=/var/lib/hsmkms \
    KMS_HOST=0.0.0.0 \
    KMS_PORT=8080 \
    KMS_HSM_PROFILE=softhsm2
USER hsmkms
VOLUME ["/var/lib/hsmkms"]
EXPOSE 8080 8443
HEALTHCHECK --interval=30s --timeout=5s CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.KMS_PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["tini", "--", "hsmkms-entrypoint"]
