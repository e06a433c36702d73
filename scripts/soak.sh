#!/usr/bin/env bash
# soak.sh — the fault-injection scenarios (cmd/butler/fault_test.go), round
# after round, longer than CI runs them; writes the results to
# RELIABILITY.md with the command that produced them.
#
#   scripts/soak.sh                      # 1 hour of rounds
#   SOAK_DURATION=10m scripts/soak.sh
#
# Environment:
#   SOAK_DURATION    keep starting rounds until this much time has passed
#                    (at least one round): 90s, 30m, 2h; default 1h
#   SOAK_STORM       how long each storm lasts (BUTLER_FAULT_STORM); default 30s
#   SOAK_ITERATIONS  stop-then-start rounds per scenario run
#                    (BUTLER_FAULT_ITERATIONS); default 500
#   SOAK_RUN         which scenarios (a go test -run pattern); default TestFault_
#   SOAK_OUT         the report; default RELIABILITY.md at the repository's root
#   SOAK_KEEP        where the logs of failed rounds are kept; default
#                    butler-soak-failed-<UTC time> in $TMPDIR (or /tmp)
#   SOAK_CODE        what code this is, for the report; default the git commit
#   BUTLER_TEST_DATABASE_URL  PostgreSQL for the cluster scenario (skipped
#                    without it), e.g. postgres://postgres@127.0.0.1:5432/postgres
#
# Each round runs the chosen scenarios once in one test process. A round's
# scenarios append "<scenario> <executions> <violations> <status>" lines
# (BUTLER_FAULT_RESULTS); the table adds them up per scenario.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

duration=${SOAK_DURATION:-1h}
storm=${SOAK_STORM:-30s}
iterations=${SOAK_ITERATIONS:-500}
run=${SOAK_RUN:-TestFault_}
out=${SOAK_OUT:-$root/RELIABILITY.md}
# The logs of failed rounds (the servers' output, every violation) are
# kept here; the work directory goes at the end.
keep=${SOAK_KEEP:-${TMPDIR:-/tmp}/butler-soak-failed-$(date -u +%Y%m%dT%H%M%SZ)}

seconds() { # 90, 90s, 30m, 2h -> seconds
  local v=$1
  case $v in
    *h) echo $(( ${v%h} * 3600 )) ;;
    *m) echo $(( ${v%m} * 60 )) ;;
    *s) echo $(( ${v%s} )) ;;
    *) echo $(( v )) ;;
  esac
}
limit=$(seconds "$duration")

work=$(mktemp -d "${TMPDIR:-/tmp}/butler-soak-XXXXXX")
trap 'rm -rf "$work"' EXIT
results=$work/results.tsv
: >"$results"

echo "soak: building the test binary"
go test -c -race -o "$work/butler.test" ./cmd/butler

# The command as given, for the report.
command="SOAK_DURATION=$duration SOAK_STORM=$storm SOAK_ITERATIONS=$iterations SOAK_RUN=$run"
if [ -n "${BUTLER_TEST_DATABASE_URL:-}" ]; then
  command="BUTLER_TEST_DATABASE_URL=$BUTLER_TEST_DATABASE_URL $command"
fi
command="$command scripts/soak.sh"

start=$(date +%s)
rounds=0
failed_rounds=0
while :; do
  rounds=$((rounds + 1))
  echo "soak: round $rounds ($(( $(date +%s) - start ))s of ${limit}s)"
  # The tests build the butler binary from their package's directory.
  if ! (cd cmd/butler && BUTLER_FAULT_RESULTS="$results" BUTLER_FAULT_STORM="$storm" \
      BUTLER_FAULT_ITERATIONS="$iterations" \
      "$work/butler.test" -test.run "$run" -test.count=1 -test.timeout=30m -test.v \
      >"$work/round-$rounds.log" 2>&1); then
    failed_rounds=$((failed_rounds + 1))
    grep -E '^(--- FAIL|panic|FAIL)' "$work/round-$rounds.log" | head -n 20 || true
    mkdir -p "$keep" && cp "$work/round-$rounds.log" "$keep/"
    echo "soak: round $rounds failed; its log is kept in $keep/round-$rounds.log"
  fi
  if [ $(( $(date +%s) - start )) -ge "$limit" ]; then
    break
  fi
done
elapsed=$(( $(date +%s) - start ))

# SOAK_CODE describes the code where git cannot (a copy of a work tree).
commit=${SOAK_CODE:-}
if [ -z "$commit" ]; then
  commit=$(git rev-parse --short HEAD 2>/dev/null || echo "unknown code")
  if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    commit="$commit with uncommitted changes"
  fi
fi

{
  echo "# Reliability"
  echo
  echo "The fault-injection scenarios of \`cmd/butler/fault_test.go\`, run round"
  echo "after round by \`scripts/soak.sh\`. Their ground truth is the processes:"
  echo "the probe program that the tasks run logs its own starts and ends and holds"
  echo "a per-task flock for as long as any process of its execution lives;"
  echo "\`internal/faultprobe\` holds Butler's run history against that (no two"
  echo "executions of a task alive at once, no process left behind, outcomes that"
  echo "match what the program did, no run recorded finished while its process"
  echo "group lives)."
  echo
  if [ "$limit" -lt 600 ]; then
    echo "**This was a short run** (${duration}): it shows that the soak works,"
    echo "not how reliable Butler is. Run it for hours for that."
    echo
  fi
  echo "- command: \`$command\`"
  echo "- code: $commit; $(go version | cut -d' ' -f3-); $(nproc) CPUs"
  echo "- finished: $(date -u +%Y-%m-%dT%H:%MZ), after ${elapsed}s: $rounds round(s), $failed_rounds with a failure"
  echo
  echo "| scenario | iterations | executions observed | violations | iterations failed |"
  echo "| --- | ---: | ---: | ---: | ---: |"
  awk -F'\t' '$1 != "#" {
      n[$1]++; ex[$1] += $2; v[$1] += $3
      if ($4 == "fail" || $4 == "aborted") f[$1]++
      if ($4 == "skip") s[$1]++
    }
    END {
      for (k in n) {
        name = k; if (s[k] == n[k]) name = k " (skipped)"
        printf "| %s | %d | %d | %d | %d |\n", name, n[k], ex[k], v[k], f[k]
      }
    }' "$results" | sort
  echo
  echo "## Violations"
  echo
  if ! grep -q $'^#\t' "$results"; then
    echo "None."
  else
    echo "Distinct messages, numbers and times blanked, most frequent first (at"
    echo "most 30), each with one example:"
    echo
    awk -F'\t' '$1 == "#" {
        key = $3
        gsub(/[0-9]+/, "N", key)
        count[$2 " | " key]++
        if (!(($2 " | " key) in example)) example[$2 " | " key] = $3
      }
      END { for (k in count) printf "%d\t%s\t%s\n", count[k], k, example[k] }' "$results" |
      sort -t$'\t' -k1,1nr | head -n 30 |
      awk -F'\t' '{ split($2, p, " \\| "); printf "- %d × %s: `%s`\n", $1, p[1], $3 }'
  fi
} >"$out"
echo "soak: $rounds round(s) in ${elapsed}s; report in $out"
