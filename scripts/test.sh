#!/usr/bin/env bash
# Runs the whole test suite: unit tests, then integration tests against real QEMU and the test
# guest. Installs what is missing first. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh || exit 1
guest/build.sh >/dev/null || { echo "0 passed, 1 failed (the test guest did not build)"; exit 1; }
./vireo --help >/dev/null || { echo "0 passed, 1 failed (vireo did not build)"; exit 1; }
log=$(mktemp)
status=0
for project in tests/Vireo.Tests tests/Vireo.IntegrationTests; do
  dotnet test "$project" --logger "console;verbosity=normal" 2>&1 | tee -a "$log" | grep -E "^\s+(Passed|Failed|Skipped) |^Total tests|error" || true
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
done
# Sum dotnet test's per-project summaries ("Total tests: 57", "     Passed: 56", "     Failed: 1").
passed=$(grep -E "^ +Passed: +[0-9]+ *$" "$log" | awk '{s+=$2} END {print s+0}')
failed=$(grep -E "^ +Failed: +[0-9]+ *$" "$log" | awk '{s+=$2} END {print s+0}')
projects=$(grep -cE "^Total tests:" "$log")
if [ "$projects" -lt 2 ]; then failed=$((failed + 2 - projects)); status=1; fi  # a project that did not run counts
# A failed test's message and stack come last, next to the summary, where a CI tail shows them.
awk '/^ +Failed [A-Za-z]/ { show = 1; n = 0 } /^ +(Passed|Skipped) [A-Za-z]/ { show = 0 }
     show && n++ < 60' "$log"
rm -f "$log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
