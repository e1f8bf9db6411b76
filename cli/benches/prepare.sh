#!/usr/bin/env bash
# Benchmark of `vtune-node prepare` against `cp` on the same chat JSONL, side by side.
#
#   bash cli/benches/prepare.sh [SIZE_MB] [SOURCE.jsonl] [ROUNDS] [IDLE_S]
#   VTUNE_BEFORE_BIN=path/to/old/vtune-node bash cli/benches/prepare.sh ...
#
# With VTUNE_BEFORE_BIN, each step also runs that binary's prepare right after this one's (same
# seed, same starting state), reports both, and checks that their training files are the same.
#
# SIZE_MB (default 1024) of chat JSONL is made in a temporary directory by repeating SOURCE
# (default ../shared/datasets/gsm8k-train.chat.jsonl), each copy's user and assistant texts made
# unique with a copy number, so that rows stay usable (no duplicates). Nothing is committed; the
# directory is removed at the end.
#
# Both commands write a file as large as the input, and on a virtual machine the time to fill
# fresh page-cache pages depends on how recently memory was freed: pages freed a moment ago are
# cheap, pages idle for seconds (handed back to the host) cost up to ten times the copy into
# them. So each timed step starts from the same state, in two settings:
#   - at rest: after IDLE_S (default 10) seconds of idle, as on a machine nothing else runs on;
#   - warm:    right after 2 GiB of page cache was written, synced and freed (the best case for
#              the copy, which then costs little more than the disk write).
# Reports, per round and as medians, the wall time of cp and of prepare (each followed by sync of
# its output), their ratio, and prepare's CPU time and peak RSS (GNU time -v). Targets: ratio
# <= 3, peak RSS <= 300 MB.
set -euo pipefail
cd "$(dirname "$0")/../.."
size_mb=${1:-1024}
source=${2:-${VTUNE_SHARED:-../shared}/datasets/gsm8k-train.chat.jsonl}
rounds=${3:-3}
idle_s=${4:-10}
[ -f "$source" ] || { echo "SKIP: $source not found"; exit 0; }

cargo build --release -p vtune-cli --quiet
bin=${CARGO_TARGET_DIR:-target}/release/vtune-node

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
data=$dir/data.jsonl
target_bytes=$((size_mb * 1024 * 1024))
copy=0
: > "$data"
while [ "$(stat -c %s "$data")" -lt "$target_bytes" ]; do
  copy=$((copy + 1))
  sed -e "s/\"role\": \"user\", \"content\": \"/\"role\": \"user\", \"content\": \"(#$copy) /" \
      -e "s/\"}]}\$/ (#$copy)\"}]}/" "$source" >> "$data"
done
rows=$(wc -l < "$data")
echo "input: $(stat -c %s "$data") bytes, $rows rows ($copy copies of $source)"
sync

cat "$data" > /dev/null # warm the page cache for both commands

# The memory states the steps start from (see the top of the file).
at_rest() { sync; sleep "$idle_s"; }
warm() {
  dd if=/dev/zero of="$dir/warm.bin" bs=4M count=512 status=none
  sync "$dir/warm.bin"
  rm "$dir/warm.bin"
  sync
}
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }

before_bin=${VTUNE_BEFORE_BIN:-}

# Runs `$1 prepare` into $dir/$2 from the memory state $3; sets prepare_s and prints a line.
run_prepare() {
  local bin=$1 job=$2 state=$3 label=$4 start rss_kb
  rm -rf "${dir:?}/$job"
  "$state"
  start=$(now)
  /usr/bin/time -v -o "$dir/time.txt" "$bin" prepare "$data" --out "$dir/$job" --seed "$round" --json > "$dir/summary.json"
  sync "$dir/$job/train.jsonl"
  prepare_s=$(since "$start")
  rss_kb=$(grep 'Maximum resident set size' "$dir/time.txt" | awk '{print $NF}')
  echo "round $round, $state: $label $prepare_s s" \
    "(ratio to cp $(echo "scale=2; $prepare_s / $cp_s" | bc)x;" \
    "CPU $(grep 'User time' "$dir/time.txt" | awk '{print $NF}') s user," \
    "$(grep 'System time' "$dir/time.txt" | awk '{print $NF}') s system; peak RSS $((rss_kb / 1024)) MB)"
}

declare -A times
# Rounds alternate cp and prepare, so that drifts in machine load fall on both.
for round in $(seq "$rounds"); do
  for state in at_rest warm; do
    rm -f "$dir/copy.jsonl"
    "$state"
    start=$(now)
    cp "$data" "$dir/copy.jsonl"
    sync "$dir/copy.jsonl"
    cp_s=$(since "$start")
    rm "$dir/copy.jsonl"

    echo "round $round, $state: cp $cp_s s"
    run_prepare "$bin" job "$state" prepare
    times[$state.cp]+="$cp_s "
    times[$state.prepare]+="$prepare_s "
    if [ -n "$before_bin" ]; then
      run_prepare "$before_bin" job-before "$state" "prepare (before)"
      times[$state.before]+="$prepare_s "
      cmp -s "$dir/job/train.jsonl" "$dir/job-before/train.jsonl" \
        && echo "  same training file as before" || echo "  training files DIFFER"
      rm -rf "$dir/job-before"
    fi
  done
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for state in at_rest warm; do
  # shellcheck disable=SC2086 # the lists are space-separated numbers
  cp_s=$(median ${times[$state.cp]})
  # shellcheck disable=SC2086
  prepare_s=$(median ${times[$state.prepare]})
  echo "$state, median of $rounds rounds: cp ${cp_s} s, prepare ${prepare_s} s" \
    "(ratio $(echo "scale=1; $prepare_s / $cp_s" | bc)x)"
  if [ -n "$before_bin" ]; then
    # shellcheck disable=SC2086
    before_s=$(median ${times[$state.before]})
    echo "$state, median of $rounds rounds: prepare (before) ${before_s} s" \
      "(after / before $(echo "scale=2; $prepare_s / $before_s" | bc)x)"
  fi
done
grep -o '"near_duplicates": [0-9]*' "$dir/summary.json" || true
