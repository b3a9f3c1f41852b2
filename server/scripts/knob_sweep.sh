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
# best value differs between regimes. Three values per numeric knob (its low end, the middle of
# its range, its high end) besides the default. The general regime (knob-sweep) holds no hash,
# set or sorted set, so the encoding thresholds cannot act there and it sweeps the other knobs
# only. About 20-35 minutes a regime on a 2-core machine, plus the first builds of the
# allocators and cargo profiles.
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
encodings=(set_max_intset_entries set_max_listpack_entries set_max_listpack_value
  hash_max_listpack_entries hash_max_listpack_value zset_max_listpack_entries
  zset_max_listpack_value)
# The knobs one regime sweeps, as --param options (none: every knob of its spec). A --param
# given to this script applies to every regime instead.
regime_params() {
  [[ " $* " == *" --param "* ]] && return
  if [[ "$regime" == knob-sweep ]]; then
    # The spec's params as the tuner loads them (extends resolved), the encodings left out.
    python3 - "$regime" "${encodings[@]}" <<'PY'
import sys
from pathlib import Path
from tuner.spec import load_spec
regime, encodings = sys.argv[1], {f"encoding.{e}" for e in sys.argv[2:]}
names = [p.name for p in load_spec(Path("studies") / f"{regime}.toml").params]
print(" ".join(f"--param {n}" for n in names if n not in encodings))
PY
  fi
}
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
  # shellcheck disable=SC2046  # one word per option
  tuner space audit --spec "studies/${regime}.toml" --runner local --values 3 \
    --default-repeats 5 -o "${out}.md.part" --json "${out}.json.part" $(regime_params "$@") "$@"
  mv "${out}.md.part" "${out}.md"
  mv "${out}.json.part" "${out}.json"
done
files=()
for regime in "${regimes[@]}"; do files+=("${sweeps}/${regime}.json"); done
exec tuner space across "${files[@]}" -o "$knobs" --title "Server knobs across workloads" \
  --preface "Made by \`server/scripts/knob_sweep.sh\` on $(date -u +%Y-%m-%d) ($(nproc) CPUs). Each regime's full audit follows the table; the raw measurements are in server/sweeps/."
