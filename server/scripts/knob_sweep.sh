#!/usr/bin/env bash
# One-at-a-time sweep of every server knob (runtime and build-time) against Redis 8.0, on each
# shipped workload regime, with the paired protocol of benchmark/: each config is measured by
# the local runner (server and Redis 8 pinned to CPU 0, redis-benchmark on CPU 1), the default
# config 5 times per regime for the noise floor. Throughput, p99 and (for the regimes that load
# a dataset) used_memory per key are judged against their noise bands.
#
# Each regime's audit is kept in server/sweeps/REGIME.json and .md as soon as it finishes, so
# an interrupted sweep resumes at the first regime without a file (--fresh measures all again).
# Then `tuner space across` writes server/KNOBS.md: which knobs move a figure, and whether their
# best value differs between regimes. About 25-30 minutes a regime on a 2-core machine, plus
# the first builds of the allocators and cargo profiles.
#
# Usage: server/scripts/knob_sweep.sh [--fresh] [extra `tuner space audit` options, e.g.
#        --param encoding.hash_max_listpack_entries]
# SWEEP_DIR (default server/sweeps) and KNOBS_MD (default server/KNOBS.md) move the outputs.
set -euo pipefail
cd "$(dirname "$0")/../.."
fresh=0
if [[ "${1:-}" == "--fresh" ]]; then
  fresh=1
  shift
fi
regimes=(knob-sweep sweep-small-pipelined sweep-large-values sweep-hash-heavy)
sweeps="${SWEEP_DIR:-server/sweeps}"
knobs="${KNOBS_MD:-server/KNOBS.md}"
mkdir -p "$sweeps"
for regime in "${regimes[@]}"; do
  out="${sweeps}/${regime}"
  if [[ $fresh -eq 0 && -f "${out}.json" ]]; then
    echo "${regime}: kept ${out}.json (--fresh measures it again)"
    continue
  fi
  # Written to a temporary name first: a killed audit leaves no half file to be kept.
  tuner space audit --spec "studies/${regime}.toml" --runner local --values 4 \
    --default-repeats 5 -o "${out}.md.part" --json "${out}.json.part" "$@"
  mv "${out}.md.part" "${out}.md"
  mv "${out}.json.part" "${out}.json"
done
files=()
for regime in "${regimes[@]}"; do files+=("${sweeps}/${regime}.json"); done
exec tuner space across "${files[@]}" -o "$knobs" --title "Server knobs across workloads" \
  --preface "Made by \`server/scripts/knob_sweep.sh\` on $(date -u +%Y-%m-%d) ($(nproc) CPUs). Each regime's full audit follows the table; the raw measurements are in server/sweeps/."
