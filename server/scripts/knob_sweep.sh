#!/usr/bin/env bash
# One-at-a-time sweep of every server knob (runtime and build-time) against Redis 8.0, with the
# paired protocol of benchmark/: each config is measured by the local runner (server and Redis 8
# pinned to CPU 0, redis-benchmark on CPU 1), the default config 5 times for the noise floor.
# Writes the knob table to server/KNOBS.md. About 50 minutes on a 2-core machine, plus builds.
# Usage: server/scripts/knob_sweep.sh [extra `tuner space audit` options, e.g. --param threads]
set -euo pipefail
cd "$(dirname "$0")/../.."
exec tuner space audit --spec studies/knob-sweep.toml --runner local --values 4 \
  --default-repeats 5 -o server/KNOBS.md "$@"
