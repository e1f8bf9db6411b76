#!/usr/bin/env bash
# Benchmark of `vtune-node prepare` against `cp` on the same chat JSONL, side by side.
#
#   bash cli/benches/prepare.sh [SIZE_MB] [SOURCE.jsonl] [ROUNDS]
#
# SIZE_MB (default 1024) of chat JSONL is made in a temporary directory by repeating SOURCE
# (default ../shared/datasets/gsm8k-train.chat.jsonl), each copy's user and assistant texts made
# unique with a copy number, so that rows stay usable (no duplicates). Nothing is committed; the
# directory is removed at the end. Reports, per round and as medians, the wall time of cp and of
# prepare (each followed by sync of its output), their ratio, and prepare's CPU time and peak RSS
# (GNU time -v). Targets: ratio <= 3, peak RSS <= 300 MB.
set -euo pipefail
cd "$(dirname "$0")/../.."
size_mb=${1:-1024}
source=${2:-${VTUNE_SHARED:-../shared}/datasets/gsm8k-train.chat.jsonl}
rounds=${3:-3}
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

cat "$data" > /dev/null # warm the page cache for both runs
# Rounds alternate cp and prepare, so that drifts in machine load fall on both.
cp_times=() prepare_times=()
# Each timed step starts with nothing left to write back (`sync`), so that neither pays for the
# other's writes.
for round in $(seq "$rounds"); do
  sync
  start=$(date +%s.%N)
  cp "$data" "$dir/copy.jsonl"
  sync "$dir/copy.jsonl"
  cp_times+=("$(echo "$(date +%s.%N) - $start" | bc)")
  rm "$dir/copy.jsonl"

  rm -rf "$dir/job"
  sync
  start=$(date +%s.%N)
  /usr/bin/time -v -o "$dir/time.txt" "$bin" prepare "$data" --out "$dir/job" --seed "$round" --json > "$dir/summary.json"
  sync "$dir/job/train.jsonl"
  prepare_times+=("$(echo "$(date +%s.%N) - $start" | bc)")
  rss_kb=$(grep 'Maximum resident set size' "$dir/time.txt" | awk '{print $NF}')
  echo "round $round: cp ${cp_times[-1]} s, prepare ${prepare_times[-1]} s" \
    "(CPU $(grep 'User time' "$dir/time.txt" | awk '{print $NF}') s user," \
    "$(grep 'System time' "$dir/time.txt" | awk '{print $NF}') s system; peak RSS $((rss_kb / 1024)) MB)"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
cp_s=$(median "${cp_times[@]}")
prepare_s=$(median "${prepare_times[@]}")
echo "median of $rounds rounds: cp ${cp_s} s, prepare ${prepare_s} s (ratio $(echo "scale=1; $prepare_s / $cp_s" | bc)x)"
grep -o '"near_duplicates": [0-9]*' "$dir/summary.json" || true
