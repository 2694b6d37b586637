#!/usr/bin/env bash
# The redis-server example against Debian's redis-server 7 (installed here
# when missing): the differential test of integration/tests/redis_diff.rs,
# 60,000 random commands in RESP2 and as many in RESP3, plus raw inputs.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "redis-diff: redis-server missing and not root to install it" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
redis-server --version
REVIO_REDIS_DIFF=required cargo test --release -p revio-integration --test redis_diff
