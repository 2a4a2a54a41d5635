#!/bin/sh
# Run one libFuzzer target for a short time on its seed corpus and report in
# the test runner's format. A longer run is the same command with a bigger
# SECONDS, e.g. tests/fuzz/run_fuzz.sh out/tests/fuzz/fuzz_init_parse 3600.
set -u
bin=$1 seconds=${2:-10}
name=$(basename "$bin")
seeds=tests/fuzz/corpus/${name#fuzz_}
work=out/tests/fuzz/$name.corpus
mkdir -p "$work"
log=out/tests/fuzz/$name.log
if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix=out/tests/fuzz/"$name"- "$work" "$seeds" > "$log" 2>&1; then
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	echo "ok $name: ${runs:-?} inputs in ${seconds} s"
else
	echo "not ok $name: crash or leak; see $log"
	tail -30 "$log"
	exit 1
fi
