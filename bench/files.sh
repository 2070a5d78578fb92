#!/bin/bash
# bench/files.sh - cairn's files source -> local sink against tar | zstd.
#
# Two data sets, made once and cached in $BENCH_DIR:
#   big    a tree of a little over 2 GiB: 120,000 small files of 1-16 KiB,
#          mostly text-like with some incompressible ones, and 4 large files
#          of 280 MiB that alternate text and random stretches;
#   small  200,000 files in 200 directories, half of them empty and half
#          of 1-64 bytes, where the cost per file is all there is.
# For each it times
#
#   cairn backup   vs   tar -cf - DIR | zstd -3 -q -o OUT
#   cairn restore  vs   zstd -dc OUT | tar -xf - -C DIR2
#
# and prints mean seconds, the ratio to the standard tool and peak RSS.
#
#   age    the big tree (or BENCH_AGE_DIR) through a job with encryption =
#          age against the same job without, and against the standard
#          tools with age (issue 20):
#            cairn backup (age)   vs   tar -cf - DIR | zstd -3 | age -r KEY
#            cairn restore (age)  vs   age -d -i KEY | zstd -dc | tar -xf -
#          the key made once with age-keygen in $BENCH_DIR.
# The commands of a group take turns, one run each per round, the order
# reversed every other round, after one untimed warm-up round that also
# fills the page cache: a noisy machine slows both sides alike.  Caches are
# not dropped (that needs root); every run starts from an empty target and
# after a sync, so no run pays for another's writeback.
#
# Environment:
#   CAIRN              the cairn binary (default ./cairn)
#   CAIRN_PLUGIN_PATH  where its plugins are (default ./plugins/.libs)
#   BENCH_DIR          work and cache directory; default /dev/shm/cairn-bench
#                      when /dev/shm is a tmpfs with 10 GiB free (the disk is
#                      then not what is measured), else /tmp/cairn-bench;
#                      needs about 9 GiB free for big, 1 GiB for small
#   BENCH_RUNS         timed rounds per group (default 3)
#   BENCH_AGE_DIR      the tree of the age run (default: the big tree); any
#                      directory, e.g. a part of the big tree linked with cp -al
#
# `bench/files.sh [--data-only] [big] [small] [age]`: the runs named (default
# all three, age when the age tool is installed; age needs the big tree
# unless BENCH_AGE_DIR is set);
# --data-only makes the data sets and stops.
set -euo pipefail

die() { echo "files.sh: $*" >&2; exit 1; }
. "$(dirname "$0")/lib.sh" # q, bench, mean, sd, rss
abspath() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }

CAIRN=$(abspath "${CAIRN:-./cairn}")
CAIRN_PLUGIN_PATH=$(abspath "${CAIRN_PLUGIN_PATH:-./plugins/.libs}")
export CAIRN_PLUGIN_PATH
if [ -z "${BENCH_DIR:-}" ]; then
	BENCH_DIR=/tmp/cairn-bench
	if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] &&
	   [ "$(df -k --output=avail /dev/shm 2>/dev/null | tail -1)" -ge $((10 << 20)) ]; then
		BENCH_DIR=/dev/shm/cairn-bench
	fi
fi
BENCH_DIR=$(abspath "$BENCH_DIR")
RUNS=${BENCH_RUNS:-3}
export LC_NUMERIC=C # $EPOCHREALTIME with a decimal point

data_only=no do_big=no do_small=no do_age=no
for arg; do
	case $arg in
	--data-only) data_only=yes ;;
	big) do_big=yes ;;
	small) do_small=yes ;;
	age) do_age=yes ;;
	*) die "unknown argument \"$arg\"; use [--data-only] [big] [small] [age]" ;;
	esac
done
if [ $do_big = no ] && [ $do_small = no ] && [ $do_age = no ]; then
	do_big=yes do_small=yes
	# the age run by default only where Debian's age is installed
	if command -v age >/dev/null && command -v age-keygen >/dev/null; then
		do_age=yes
	else
		echo "files.sh: age is missing (Debian package: age): no age run" >&2
	fi
fi
if [ $do_age = yes ]; then
	for tool in age age-keygen; do
		command -v "$tool" >/dev/null || die "$tool is needed for the age run (Debian package: age)"
	done
fi

for tool in zstd tar perl; do
	command -v "$tool" >/dev/null || die "$tool is needed (Debian package: $tool)"
done
[ -n "${EPOCHREALTIME:-}" ] || die "bash 5 or newer is needed (\$EPOCHREALTIME)"
TIME=/usr/bin/time
if ! [ -x "$TIME" ] || ! "$TIME" -f %M true >/dev/null 2>&1; then
	echo "files.sh: GNU time (/usr/bin/time, Debian package: time) is missing;" \
	     "peak RSS is not measured" >&2
	TIME=
fi

data=$BENCH_DIR/data
small=$BENCH_DIR/small
mkdir -p "$BENCH_DIR"
fstype=$(stat -f -c %T "$BENCH_DIR")
echo "files.sh: working in $BENCH_DIR ($fstype)" >&2

# ------------------------------------------------------------ the data set
generate() {
	echo "files.sh: generating the data set in $data (once) ..." >&2
	rm -rf "$data" "$data.tmp"
	mkdir -p "$data.tmp"
	# A pool of random bytes, sliced for the incompressible parts.  Slices
	# are taken at random offsets from 64 MiB, so neighbouring files rarely
	# share one within zstd's window.
	head -c $((64 << 20)) /dev/urandom >"$BENCH_DIR/random.pool"
	perl - "$data.tmp" "$BENCH_DIR/random.pool" <<'PERL'
use strict;
use warnings;
my ($root, $poolfile) = @ARGV;
srand(20260124);

open(my $pf, '<:raw', $poolfile) or die "$poolfile: $!";
my $random = do { local $/; <$pf> };
close $pf;

# Text that compresses like logs, source and documents do: a vocabulary of
# made-up words drawn with a skewed (Zipf-like) frequency, in lines of
# several kinds.
my @letters = ('a' .. 'z');
my @vocab = map {
	join '', map { $letters[int(rand(26))] } 1 .. (2 + int(rand(9)))
} 1 .. 8000;
sub word { $vocab[int(@vocab * (rand() ** 3))] }
sub line {
	my $kind = rand();
	if ($kind < 0.4) {    # a log line
		return sprintf("2026-01-%02d %02d:%02d:%02d.%03d %s [%s] %s: %s\n",
			1 + int(rand(28)), int(rand(24)), int(rand(60)), int(rand(60)),
			int(rand(1000)), (qw(INFO INFO DEBUG WARN ERROR))[int(rand() ** 2 * 5)],
			word(), word() . '.' . word(),
			join(' ', map { rand() < 0.2 ? int(rand(100000)) : word() } 1 .. 4 + int(rand(10))));
	} elsif ($kind < 0.7) {    # prose
		return ucfirst(join(' ', map { word() } 1 .. 6 + int(rand(12)))) . ".\n";
	} else {                   # code-ish
		return ("\t" x int(rand(4))) . word() . '_' . word() . '(' . word() . ', '
			. int(rand(4096)) . ");\n";
	}
}
my $text = '';
$text .= line() while length($text) < (48 << 20);

sub text_slice { my $n = shift; substr($text, int(rand(length($text) - $n)), $n) }
sub rand_slice { my $n = shift; substr($random, int(rand(length($random) - $n)), $n) }

sub put {
	my ($path, $data) = @_;
	open(my $fh, '>:raw', $path) or die "$path: $!";
	print $fh $data or die "$path: $!";
	close $fh or die "$path: $!";
}

# 120,000 small files in 40 x 30 directories of 100 files.
my $n = 0;
for my $a (0 .. 39) {
	for my $b (0 .. 29) {
		my $dir = sprintf("%s/small/d%02d/s%02d", $root, $a, $b);
		system('mkdir', '-p', $dir) == 0 or die "mkdir $dir";
		for my $c (0 .. 99) {
			my $size = 1024 + int(rand(15 * 1024 + 1));
			my $kind = rand();
			my ($ext, $data);
			if ($kind < 0.60) {
				($ext, $data) = ('txt', text_slice($size));
			} elsif ($kind < 0.85) {    # a text header and binary payload
				my $h = int($size * (0.2 + rand(0.5)));
				($ext, $data) = ('dat', text_slice($h) . rand_slice($size - $h));
			} else {                    # already compressed: images, archives
				($ext, $data) = ('bin', rand_slice($size));
			}
			put(sprintf("%s/f%06d.%s", $dir, $n++, $ext), $data);
		}
	}
}

# 4 large files: 1 MiB stretches, 55% text, 45% random.
system('mkdir', '-p', "$root/large") == 0 or die "mkdir $root/large";
for my $f (0 .. 3) {
	my $path = "$root/large/big$f.img";
	open(my $fh, '>:raw', $path) or die "$path: $!";
	for (1 .. 280) {
		print $fh (rand() < 0.55 ? text_slice(1 << 20) : rand_slice(1 << 20))
			or die "$path: $!";
	}
	close $fh or die "$path: $!";
}
PERL
	rm -f "$BENCH_DIR/random.pool"
	mv "$data.tmp" "$data"
	touch "$BENCH_DIR/data.done"
}

# 200,000 files in 200 directories of 1,000: half empty, half 1-64 bytes.
generate_small() {
	echo "files.sh: generating the small-files set in $small (once) ..." >&2
	rm -rf "$small" "$small.tmp"
	mkdir -p "$small.tmp"
	perl - "$small.tmp" <<'PERL'
use strict;
use warnings;
my ($root) = @ARGV;
srand(20260125);
my $n = 0;
for my $d (0 .. 199) {
	my $dir = sprintf("%s/d%03d", $root, $d);
	mkdir $dir or die "$dir: $!";
	for my $f (0 .. 999) {
		my $path = sprintf("%s/f%06d", $dir, $n++);
		open(my $fh, '>:raw', $path) or die "$path: $!";
		if (rand() < 0.5) {
			print $fh join('', map { chr(97 + int(rand(26))) } 1 .. 1 + int(rand(64)))
				or die "$path: $!";
		}
		close $fh or die "$path: $!";
	}
}
PERL
	mv "$small.tmp" "$small"
	touch "$BENCH_DIR/small.done"
}

describe() { # DIR -> "N files, M MiB"
	local bytes files
	bytes=$(du -sb --apparent-size "$1" | cut -f1)
	files=$(find "$1" -type f | wc -l)
	echo "$files files, $((bytes >> 20)) MiB"
}
if [ $do_big = yes ] || { [ $do_age = yes ] && [ -z "${BENCH_AGE_DIR:-}" ]; }; then
	[ -f "$BENCH_DIR/data.done" ] && [ -d "$data" ] || generate
	desc_big=$(describe "$data")
	echo "files.sh: data set big: $desc_big in $data" >&2
fi
if [ $do_small = yes ]; then
	[ -f "$BENCH_DIR/small.done" ] && [ -d "$small" ] || generate_small
	desc_small=$(describe "$small")
	echo "files.sh: data set small: $desc_small in $small" >&2
fi
agedir=$(abspath "${BENCH_AGE_DIR:-$data}")
if [ $do_age = yes ]; then
	[ -d "$agedir" ] || die "BENCH_AGE_DIR $agedir is no directory"
	desc_age=$(describe "$agedir")
	echo "files.sh: the age run's tree: $desc_age in $agedir" >&2
fi
[ $data_only = no ] || exit 0

[ -x "$CAIRN" ] || die "$CAIRN is not an executable; build cairn or set CAIRN"
[ -f "$CAIRN_PLUGIN_PATH/files.so" ] || die "no files.so in $CAIRN_PLUGIN_PATH; set CAIRN_PLUGIN_PATH"

# --------------------------------------------------------------- cairn setup
sink=$BENCH_DIR/sink
rest_cairn=$BENCH_DIR/restore-cairn
rest_tar=$BENCH_DIR/restore-tar
results=$BENCH_DIR/results
mkdir -p "$BENCH_DIR/state" "$sink" "$results"

# A job per data set.  fsync = no: tar | zstd -o does not fsync either.  A
# row with the sink's default (fsync = yes) follows for the real cost.
write_ini() { # NAME FSYNC
	cat >"$BENCH_DIR/$1.ini" <<EOF
[cairn]
state_dir = $BENCH_DIR/state

[source tree]
plugin = files
path = $data

[source smalltree]
plugin = files
path = $small

[sink store]
plugin = local
path = $sink
fsync = $2

[job bench]
sources = tree
sinks = store
compression = zstd
compression_level = 3

[job small]
sources = smalltree
sinks = store
compression = zstd
compression_level = 3
EOF
	[ $do_age = no ] || cat >>"$BENCH_DIR/$1.ini" <<EOF

[source agetree]
plugin = files
path = $agedir

[job clear]
sources = agetree
sinks = store
compression = zstd
compression_level = 3

[job age]
sources = agetree
sinks = store
compression = zstd
compression_level = 3
encryption = age
age_recipients = $age_pub
age_identity_file = $age_key
EOF
}
# The age run's key, made once
age_key=$BENCH_DIR/age.key
if [ $do_age = yes ] && ! [ -s "$age_key" ]; then
	age-keygen -o "$age_key.tmp" 2>/dev/null && mv "$age_key.tmp" "$age_key" ||
		die "age-keygen failed"
fi
age_pub=$( [ -s "$age_key" ] && age-keygen -y "$age_key" || echo age1none)
write_ini nofsync no
write_ini fsync yes

C="$(q "$CAIRN") -q -c $(q "$BENCH_DIR/nofsync.ini")"
CF="$(q "$CAIRN") -q -c $(q "$BENCH_DIR/fsync.ini")"
clean_rest="rm -rf $(q "$rest_cairn") $(q "$rest_tar") && mkdir -p $(q "$rest_cairn") $(q "$rest_tar") && sync"

"$CAIRN" -c "$BENCH_DIR/nofsync.ini" config check >/dev/null || die "cairn config check failed"


rows=$results/rows
: >"$rows"
row() { # LABEL GROUP N BASE-N RSS
	local m b
	m=$(mean "$2" "$3") b=$(mean "$2" "$4")
	printf '| %-36s | %8.2f | %6.2f | %8s | %13s |\n' "$1" "$m" "$(sd "$2" "$3")" \
		"$(awk -v a="$m" -v b="$b" 'BEGIN { printf "%.2fx", a / b }')" "$5" >>"$rows"
}

# run_case JOB DIR OUT DESCRIPTION: time backup and restore of one data set
run_case() {
	local job=$1 dir=$2 out=$3 desc=$4 obj
	local clean_sink="rm -rf $(q "$sink/$job") && sync"
	local tar_c="tar -cf - -C $(q "$dir") . | zstd -3 -q -o $(q "$out")"
	local tar_x="zstd -dc $(q "$out") | tar -xf - -C $(q "$rest_tar")"
	local cairn_x="$C restore $job --set path=$(q "$rest_cairn")"
	local rss_tar_c rss_cairn_cf rss_cairn_c rss_cairn_r rss_tar_r

	echo "files.sh: $job: warming the page cache ..." >&2
	tar -cf - -C "$dir" . >/dev/null
	bench "$job-backup" "rm -f $(q "$out"); $clean_sink" \
		"cairn backup" "$C backup $job" \
		"cairn backup (fsync=yes)" "$CF backup $job" \
		"tar | zstd -3" "$tar_c"
	rss_tar_c=$(rss "rm -f $(q "$out"); $tar_c")
	rss_cairn_cf=$(rss "$clean_sink; $CF backup $job")
	rss_cairn_c=$(rss "$clean_sink; $C backup $job")
	# The set left by this last run is the one restored below.
	obj=$(find "$sink/$job" -name '*.tar.zst' -print -quit)
	[ -n "$obj" ] || die "cairn backup left no .tar.zst in $sink/$job"
	zstd -t -q "$obj" || die "zstd -t finds $obj damaged"

	bench "$job-restore" "$clean_rest" \
		"cairn restore" "$cairn_x" \
		"zstd -dc | tar -x" "$tar_x"
	rss_cairn_r=$(rss "$clean_rest; $cairn_x")
	# A restore that does not give the tree back is not worth timing.
	diff -rq "$dir" "$rest_cairn" >"$results/diff" 2>&1 ||
		die "cairn's restore in $rest_cairn differs from $dir (see $results/diff)"
	rss_tar_r=$(rss "$clean_rest; $tar_x")
	rm -rf "$rest_cairn" "$rest_tar"

	# "\|" keeps the pipe from splitting a Markdown table cell.
	echo "| **$job**: $desc | | | | |" >>"$rows"
	row "tar -cf - \| zstd -3" "$job-backup" 3 3 "$rss_tar_c"
	row "cairn backup (fsync=no)" "$job-backup" 1 3 "$rss_cairn_c"
	row "cairn backup (fsync=yes, default)" "$job-backup" 2 3 "$rss_cairn_cf"
	row "zstd -dc \| tar -xf -" "$job-restore" 2 2 "$rss_tar_r"
	row "cairn restore" "$job-restore" 1 2 "$rss_cairn_r"
	echo "| stored: cairn $(($(stat -c %s "$obj") >> 20)) MiB," \
	     "tar \| zstd $(($(stat -c %s "$out") >> 20)) MiB | | | | |" >>"$rows"
}

# run_age: the age tree through cairn without and with encryption = age,
# and through tar | zstd | age -r; restored likewise
run_age() {
	local dir=$agedir out=$BENCH_DIR/out.tar.zst.age obj oclear
	local clean_sink="rm -rf $(q "$sink/clear") $(q "$sink/age") && sync"
	local tar_c="tar -cf - -C $(q "$dir") . | zstd -3 -q | age -r $age_pub -o $(q "$out")"
	local tar_x="age -d -i $(q "$age_key") $(q "$out") | zstd -dc | tar -xf - -C $(q "$rest_tar")"
	local x_clear="$C restore clear --set path=$(q "$rest_cairn")"
	local x_age="$C restore age --set path=$(q "$rest_cairn")"
	local rss_tar_c rss_c rss_a rss_tar_r rss_xc rss_xa e

	echo "files.sh: age: warming the page cache ..." >&2
	tar -cf - -C "$dir" . >/dev/null
	bench "age-backup" "rm -f $(q "$out"); $clean_sink" \
		"cairn backup" "$C backup clear" \
		"cairn backup (age)" "$C backup age" \
		"tar | zstd -3 | age -r" "$tar_c"
	rss_tar_c=$(rss "rm -f $(q "$out"); $tar_c")
	rss_c=$(rss "rm -rf $(q "$sink/clear") && sync; $C backup clear")
	rss_a=$(rss "rm -rf $(q "$sink/age") && sync; $C backup age")
	obj=$(find "$sink/age" -name '*.tar.zst.age' -print -quit)
	oclear=$(find "$sink/clear" -name '*.tar.zst' -print -quit)
	[ -n "$obj" ] || die "cairn backup left no .tar.zst.age in $sink/age"
	age -d -i "$age_key" "$obj" | zstd -t -q || die "age -d | zstd -t finds $obj damaged"

	bench "age-restore" "$clean_rest" \
		"cairn restore" "$x_clear" \
		"cairn restore (age)" "$x_age" \
		"age -d | zstd -dc | tar -x" "$tar_x"
	rss_xc=$(rss "$clean_rest; $x_clear")
	rss_xa=$(rss "$clean_rest; $x_age")
	diff -rq "$dir" "$rest_cairn" >"$results/diff" 2>&1 ||
		die "cairn's restore (age) in $rest_cairn differs from $dir (see $results/diff)"
	rss_tar_r=$(rss "$clean_rest; $tar_x")
	diff -rq "$dir" "$rest_tar" >"$results/diff" 2>&1 ||
		die "the age -d | zstd | tar restore in $rest_tar differs from $dir (see $results/diff)"
	rm -rf "$rest_cairn" "$rest_tar"

	e=$(awk -v a="$(mean age-backup 2)" -v b="$(mean age-backup 1)" 'BEGIN { printf "%+.0f %%", (a / b - 1) * 100 }')
	echo "| **age**: $desc_age | | | | |" >>"$rows"
	row "tar -cf - \| zstd -3 \| age -r" age-backup 3 3 "$rss_tar_c"
	row "cairn backup (fsync=no)" age-backup 1 3 "$rss_c"
	row "cairn backup, encryption = age" age-backup 2 3 "$rss_a"
	echo "| encryption's cost in cairn's backup: $e | | | | |" >>"$rows"
	row "age -d \| zstd -dc \| tar -xf -" age-restore 3 3 "$rss_tar_r"
	row "cairn restore" age-restore 1 3 "$rss_xc"
	row "cairn restore, encryption = age" age-restore 2 3 "$rss_xa"
	echo "| stored: cairn $(($(stat -c %s "$obj") >> 20)) MiB (clear $(($(stat -c %s "$oclear") >> 20)) MiB)," \
	     "tar \| zstd \| age $(($(stat -c %s "$out") >> 20)) MiB | | | | |" >>"$rows"
}

[ $do_big = no ] || run_case bench "$data" "$BENCH_DIR/out.tar.zst" "$desc_big"
[ $do_small = no ] || run_case small "$small" "$BENCH_DIR/small.tar.zst" "$desc_small"
[ $do_age = no ] || run_age

# ------------------------------------------------------------------- table
echo
echo "$(nproc) CPUs; $fstype in $BENCH_DIR; zstd level 3; $RUNS rounds after" \
     "1 warm-up, the commands taking turns; warm page cache"
echo
printf '| %-36s | %8s | %6s | %8s | %13s |\n' command "mean s" "sd s" "vs std" "peak RSS MiB"
printf '| %-36s | %8s | %6s | %8s | %13s |\n' ------------------------------------ \
	-------- ------ -------- -------------
cat "$rows"
echo
echo "the times of every run: $results/*.times"
