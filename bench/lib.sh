# bench/lib.sh - what the benchmark scripts share: commands taking turns,
# their mean and spread, and peak RSS.  Source it after setting RUNS (timed
# rounds), results (a directory for the timings), TIME (GNU time, or empty)
# and die().

# q WORD: WORD quoted for sh -c
q() { printf '%q' "$1"; }

# bench GROUP PREPARE LABEL COMMAND [LABEL COMMAND]...: the commands take
# turns (A B C, then C B A, ...), PREPARE before each run; round 0 is the
# untimed warm-up.  Each timed run is a line "INDEX START END" in
# $results/GROUP.times (INDEX from 0).
bench() {
	local group=$1 prepare=$2 r i k t0 t1 n
	local -a labels=() cmds=()
	shift 2
	while [ $# -gt 0 ]; do
		labels+=("$1")
		cmds+=("$2")
		shift 2
	done
	n=${#cmds[@]}
	: >"$results/$group.times"
	for ((r = 0; r <= RUNS; r++)); do
		echo "${0##*/}: $group: round $r of $RUNS$( ((r)) || echo ' (warm-up)')" >&2
		for ((k = 0; k < n; k++)); do
			i=$k
			((r % 2 == 0)) || i=$((n - 1 - k))
			sh -c "$prepare" >/dev/null 2>"$results/err" ||
				die "$group: preparing a run failed: $(head -c 300 "$results/err")"
			t0=$EPOCHREALTIME
			sh -c "${cmds[$i]}" >/dev/null 2>"$results/err" ||
				die "$group: ${labels[$i]} failed: $(head -c 300 "$results/err")"
			t1=$EPOCHREALTIME
			((r == 0)) || echo "$i $t0 $t1" >>"$results/$group.times"
		done
	done
}
# mean and sample standard deviation of the Nth command (from 1) of a group
mean() {
	awk -v i=$(($2 - 1)) '$1 == i { s += $3 - $2; n++ } END { printf "%.2f", s / n }' \
		"$results/$1.times"
}
sd() {
	awk -v i=$(($2 - 1)) '$1 == i { t = $3 - $2; s += t; ss += t * t; n++ }
		END { m = s / n; v = n > 1 ? (ss - n * m * m) / (n - 1) : 0
		      printf "%.2f", (v > 0 ? sqrt(v) : 0) }' "$results/$1.times"
}
# peak RSS in MiB of a shell command, or "-"
rss() {
	[ -n "$TIME" ] || { echo -; return; }
	"$TIME" -f %M -o "$results/rss" sh -c "$1" >/dev/null 2>&1 || { echo failed; return; }
	awk '{ printf "%.0f", $1 / 1024 }' "$results/rss"
}

# ---- the follow benchmarks (follow.sh, follow_redis.sh) ----
# pids: their background processes.  follow_trap SIG: on any exit (the
# end, die, an error) they are killed with SIG, and the script keeps its
# exit status (killing one that has ended already fails, which under
# set -e would turn every exit into 1).
pids=""
stop_pids() {
	local p
	for p in $pids; do kill -"${1:-TERM}" "$p" 2>/dev/null || true; done
	pids=""
}
follow_trap() { trap "rc=\$?; stop_pids $1; exit \$rc" EXIT; }
# cpu_of PID: its CPU time so far (user + system), in seconds
cpu_of() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }
# sampler PID LOGDIR: every second while PID lives, "NOW TO RSS": the
# time, the newest committed segment's TO time in LOGDIR (by $PITR segs,
# set by the script) and PID's RSS in KiB
sampler() {
	local to now rss
	while kill -0 "$1" 2>/dev/null; do
		now=$EPOCHREALTIME
		to=$($PITR segs "$2" | awk '{ if ($2 > m) m = $2 } END { printf "%.3f", m }')
		rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0)
		echo "$now $to $rss"
		sleep 1
	done
}

# follow_measure FPID SPID SAMPLES LOGDIR T_LOAD T_COVER FOLLOWLOG: once the
# log covers the load, the follower's CPU and peak RSS (cpu1, hwm); stop
# the sampler and the follower (SIGTERM must exit 0); from SAMPLES the lag
# between T_LOAD and T_COVER (lag_max, lag_mean, lag_n) and the RSS
# (rss_max, rss_first), and from LOGDIR's manifests records, raw, stored
# and nsegs.  Sets those variables.
follow_measure() {
	cpu1=$(cpu_of "$1")
	hwm=$(awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status")
	kill "$2" 2>/dev/null || true
	kill -TERM "$1"
	wait "$1" || die "cairn follow did not exit 0 on SIGTERM: $(tail -c 300 "$7")"
	read -r lag_max lag_mean lag_n <<<"$(awk -v s="$5" -v e="$6" '$1 >= s + 0 && $1 <= e + 0 && $2 > 0 {
		l = $1 - $2; if (l > m) m = l; t += l; n++ }
	END { printf "%.1f %.1f %d", m, n ? t / n : 0, n }' "$3")"
	rss_max=$(awk '{ if ($3 > m) m = $3 } END { printf "%.1f", m / 1024 }' "$3")
	rss_first=$(awk 'NR == 3 { printf "%.1f", $3 / 1024 }' "$3")
	read -r records raw stored nsegs <<<"$(cat "$4"/*.json |
		jq -s '[(map(.records) | add), (map(.raw_bytes) | add), (map(.stored_bytes) | add), length] | @tsv' -r)"
}
