#!/bin/sh
# The compose deployment's first run: makes the secret files docker-compose.yml mounts, and a
# write key, then says where they are. Run it from anywhere, before the first
# `docker compose up -d --build`; a second run keeps what exists (no new key, no new password).
#
#   sh deploy/first-run.sh
#
#   secrets/postgres_password  PostgreSQL's password (random); postgres, migrate and api read it
#   secrets/api_keys           the API_KEYS entries the service accepts: SHA-256s, no key
#   secrets/write_key          the write key itself, for you: never mounted into a container
#
# The key is made by the image's own CLI (`entropy-budget keys generate`), run through
# $ENTROPY_BUDGET_CLI (default: the compose migrate service, which needs no API key).
# secrets/ is 0700, so no other user of this machine can reach it; the two mounted files are
# 0644, because the containers read them as their own users (postgres, uid 10001).
set -eu

cd "$(dirname "$0")/.."
cli=${ENTROPY_BUDGET_CLI:-docker compose run --rm --no-deps -T migrate}

umask 077
mkdir -p secrets
chmod 700 secrets

if [ -s secrets/postgres_password ]; then
    echo "secrets/postgres_password exists: kept."
else
    # 32 random bytes as hex: URL-safe, so it can never break a connection URL.
    od -An -N32 -tx1 /dev/urandom | tr -d ' \n' > secrets/postgres_password
    chmod 644 secrets/postgres_password
    echo "Created secrets/postgres_password (PostgreSQL's password)."
fi

if [ -s secrets/api_keys ]; then
    echo "secrets/api_keys exists: kept (no new key). Keys: docs/operations.md."
    exit 0
fi
: > secrets/api_keys # compose wants every secret file to exist, even to run a one-off command
chmod 644 secrets/api_keys
generated=$($cli keys generate --scope write)
key=$(printf '%s\n' "$generated" | sed -n 's/^key (give it to the client, once): *//p')
entry=$(printf '%s\n' "$generated" | sed -n 's/^API_KEYS entry (for the server): *//p')
if [ -z "$key" ] || [ -z "$entry" ]; then
    echo "error: \`entropy-budget keys generate\` printed something unexpected:" >&2
    printf '%s\n' "$generated" >&2
    exit 1
fi
printf '%s\n' "$key" > secrets/write_key
printf '%s\n' "$entry" > secrets/api_keys
echo "Created a write key. It is in $(pwd)/secrets/write_key (only its SHA-256 is in"
echo "secrets/api_keys, which the service reads). Send it as 'Authorization: Bearer <key>'."
