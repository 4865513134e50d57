# DenoPubSub container image. Usage and mount points: docs/deploy.md.
#
#   config and ACL   /etc/denopubsub/pubsub.yaml, /etc/denopubsub/pubsub_acl.yaml
#   history storage  /var/lib/denopubsub (volume, owned by the deno user, uid 1993)
#   port             2069
#
# The base image is a build argument so that a tested stand-in can replace it
# (tests/container/check.sh); the default is the pinned official image.
ARG DENO_IMAGE=denoland/deno:debian-2.9.6

# Dependencies and sources are resolved here, so the running image never fetches anything.
FROM ${DENO_IMAGE} AS build
ENV DENO_DIR=/deno-dir
WORKDIR /app
# Only the manifest and lock file: this layer is rebuilt when dependencies change, not code.
COPY deno.json deno.lock ./
RUN deno install --frozen
COPY . .
RUN deno install --frozen --entrypoint main.ts

FROM ${DENO_IMAGE}
ENV DENO_DIR=/deno-dir
RUN install -d -o deno -g deno -m 0750 /var/lib/denopubsub \
  && install -d -m 0755 /etc/denopubsub
COPY --from=build --chown=deno:deno /deno-dir /deno-dir
COPY --from=build /app /app
COPY deploy/pubsub.yaml deploy/pubsub_acl.yaml /etc/denopubsub/
WORKDIR /app
USER deno
VOLUME ["/var/lib/denopubsub"]
EXPOSE 2069
STOPSIGNAL SIGTERM
# HEAD / answers 204 when the server is up. The official image has no curl, so Deno asks.
ENV HEALTHCHECK_URL=http://127.0.0.1:2069/
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["deno", "eval", "const r = await fetch(Deno.env.get('HEALTHCHECK_URL') ?? '', { method: 'HEAD' }); Deno.exit(r.status === 204 ? 0 : 1);"]
# Exec form: deno is PID 1 and receives SIGTERM itself, which drains and exits 0.
# Arguments given to `docker run IMAGE …` are appended (e.g. --log-format json).
ENTRYPOINT ["deno", "run", "--cached-only", "--no-prompt", \
  "--v8-flags=--max-semi-space-size=8", \
  "--allow-net", \
  "--allow-read=/app,/etc/denopubsub,/var/lib/denopubsub", \
  "--allow-write=/var/lib/denopubsub", \
  "--allow-run=cat", \
  "--allow-env=LOG_TOKENS,LOG_STREAM,WS_NO_BUFFER_UTIL,WS_NO_UTF_8_VALIDATE,AWS_*,HOME,USERPROFILE,HOMEPATH,HOMEDRIVE,_X_AMZN_TRACE_ID", \
  "main.ts", \
  "--config", "/etc/denopubsub/pubsub.yaml", \
  "--acl", "/etc/denopubsub/pubsub_acl.yaml"]
