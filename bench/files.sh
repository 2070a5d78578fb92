#!/bin/bash
# bench/files.sh - cairn's files source -> local sink against tar | zstd.
#
# Makes (once, cached in $BENCH_DIR) a tree of a little over 2 GiB: 120,000
# small files of 1-16 KiB, mostly text-like with some incompressible ones,
# and 4 large files of 280 MiB that alternate text and random stretches.
# Then times with hyperfine (3 runs each, after one untimed warm-up run that
# also fills the page cache; caches are not dropped, which needs root):
#
#   cairn backup   vs   tar -cf - DIR | zstd -3 -q -o OUT
#   cairn restore  vs   zstd -dc OUT | tar -xf - -C DIR2
#
# and prints mean seconds, the ratio to the standard tool and peak RSS.
#
# Environment:
#   CAIRN              the cairn binary (default ./cairn)
#   CAIRN_PLUGIN_PATH  where its plugins are (default ./plugins/.libs)
#   BENCH_DIR          work and cache directory (default /tmp/cairn-bench);
#                      needs about 9 GiB free
#   BENCH_RUNS         hyperfine runs per command (default 3)
#
# `bench/files.sh --data-only` makes the data set and stops.
set -euo pipefail

die() { echo "files.sh: $*" >&2; exit 1; }
abspath() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }

CAIRN=$(abspath "${CAIRN:-./cairn}")
CAIRN_PLUGIN_PATH=$(abspath "${CAIRN_PLUGIN_PATH:-./plugins/.libs}")
export CAIRN_PLUGIN_PATH
BENCH_DIR=$(abspath "${BENCH_DIR:-/tmp/cairn-bench}")
RUNS=${BENCH_RUNS:-3}

for tool in hyperfine zstd tar perl; do
	command -v "$tool" >/dev/null || die "$tool is needed (Debian package: $tool)"
done
TIME=/usr/bin/time
if ! [ -x "$TIME" ] || ! "$TIME" -f %M true >/dev/null 2>&1; then
	echo "files.sh: GNU time (/usr/bin/time, Debian package: time) is missing;" \
	     "peak RSS is not measured" >&2
	TIME=
fi

data=$BENCH_DIR/data
mkdir -p "$BENCH_DIR"

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
[ -f "$BENCH_DIR/data.done" ] && [ -d "$data" ] || generate

bytes=$(du -sb --apparent-size "$data" | cut -f1)
files=$(find "$data" -type f | wc -l)
echo "files.sh: data set: $files files, $((bytes >> 20)) MiB in $data" >&2
[ "${1:-}" != --data-only ] || exit 0

[ -x "$CAIRN" ] || die "$CAIRN is not an executable; build cairn or set CAIRN"
[ -f "$CAIRN_PLUGIN_PATH/files.so" ] || die "no files.so in $CAIRN_PLUGIN_PATH; set CAIRN_PLUGIN_PATH"

# --------------------------------------------------------------- cairn setup
sink=$BENCH_DIR/sink
out=$BENCH_DIR/out.tar.zst
rest_cairn=$BENCH_DIR/restore-cairn
rest_tar=$BENCH_DIR/restore-tar
mkdir -p "$BENCH_DIR/state" "$sink"

# fsync = no: tar | zstd -o does not fsync either.  A row with the sink's
# default (fsync = yes) follows for the real cost.
write_ini() {
	cat >"$BENCH_DIR/$1.ini" <<EOF
[cairn]
state_dir = $BENCH_DIR/state

[source tree]
plugin = files
path = $data

[sink store]
plugin = local
path = $sink
fsync = $2

[job bench]
sources = tree
sinks = store
compression = zstd
compression_level = 3
EOF
}
write_ini nofsync no
write_ini fsync yes
ini=$BENCH_DIR/nofsync.ini

q() { printf '%q' "$1"; }
C="$(q "$CAIRN") -q -c $(q "$ini")"
CF="$(q "$CAIRN") -q -c $(q "$BENCH_DIR/fsync.ini")"
# Each run starts with an empty target and no dirty pages from the run
# before (sync needs no root), so no run pays for another's writeback.
clean_sink="rm -rf $(q "$sink")/bench && sync"
clean_rest="rm -rf $(q "$rest_cairn") $(q "$rest_tar") && mkdir -p $(q "$rest_cairn") $(q "$rest_tar") && sync"

"$CAIRN" -c "$ini" config check >/dev/null || die "cairn config check failed"
echo "files.sh: warming the page cache ..." >&2
tar -cf - -C "$data" . >/dev/null

results=$BENCH_DIR/results
mkdir -p "$results"
hf() { # NAME PREPARE COMMAND...
	local name=$1 prepare=$2
	shift 2
	hyperfine --style basic --runs "$RUNS" --warmup 1 --prepare "$prepare" \
		--export-csv "$results/$name.csv" "$@" >&2
}
# mean seconds of the Nth command (1-based) in a hyperfine CSV
mean() { awk -F, -v row="$(($2 + 1))" 'NR == row { print $2 }' "$results/$1.csv"; }
# peak RSS in MiB of a shell command, or "-"
rss() {
	[ -n "$TIME" ] || { echo -; return; }
	"$TIME" -f %M -o "$results/rss" sh -c "$1" >/dev/null 2>&1 || { echo failed; return; }
	awk '{ printf "%.0f", $1 / 1024 }' "$results/rss"
}

echo "files.sh: timing backups ..." >&2
hf backup "rm -f $(q "$out"); $clean_sink" \
	-n "cairn backup" "$C backup bench" \
	-n "cairn backup (fsync=yes)" "$CF backup bench" \
	-n "tar | zstd -3" "tar -cf - -C $(q "$data") . | zstd -3 -q -o $(q "$out")"
rss_tar_c=$(rss "rm -f $(q "$out"); tar -cf - -C $(q "$data") . | zstd -3 -q -o $(q "$out")")
rss_cairn_cf=$(rss "$clean_sink; $CF backup bench")
rss_cairn_c=$(rss "$clean_sink; $C backup bench")
# The set left by this last run is the one restored below.
obj=$(find "$sink/bench" -name 'tree.tar.zst' -print -quit)
[ -n "$obj" ] || die "cairn backup left no tree.tar.zst in $sink/bench"

echo "files.sh: timing restores ..." >&2
hf restore "$clean_rest" \
	-n "cairn restore" "$C restore bench --set path=$(q "$rest_cairn")" \
	-n "zstd -dc | tar -x" "zstd -dc $(q "$out") | tar -xf - -C $(q "$rest_tar")"
rss_cairn_r=$(rss "$clean_rest; $C restore bench --set path=$(q "$rest_cairn")")
# A restore that does not give the tree back is not worth timing.
diff -rq "$data" "$rest_cairn" >"$results/diff" 2>&1 ||
	die "cairn's restore in $rest_cairn differs from $data (see $results/diff)"
rss_tar_r=$(rss "$clean_rest; zstd -dc $(q "$out") | tar -xf - -C $(q "$rest_tar")")
rm -rf "$rest_cairn" "$rest_tar"

# ------------------------------------------------------------------- table
b_c=$(mean backup 1) b_cf=$(mean backup 2) b_t=$(mean backup 3)
r_c=$(mean restore 1) r_t=$(mean restore 2)
size_c=$(stat -c %s "$obj") size_t=$(stat -c %s "$out")
{
	echo
	echo "data: $files files, $((bytes >> 20)) MiB; $(nproc) CPUs; zstd level 3;" \
	     "hyperfine, $RUNS runs after 1 warm-up, warm page cache"
	echo
	printf '| %-34s | %8s | %8s | %13s |\n' command "mean s" "vs std" "peak RSS MiB"
	printf '| %-34s | %8s | %8s | %13s |\n' ---------------------------------- \
		-------- -------- -------------
	row() { printf '| %-34s | %8.2f | %8s | %13s |\n' "$1" "$2" "$3" "$4"; }
	ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
	# "\|" keeps the pipe from splitting a Markdown table cell.
	row "tar -cf - \| zstd -3" "$b_t" "1.00x" "$rss_tar_c"
	row "cairn backup (fsync=no)" "$b_c" "$(ratio "$b_c" "$b_t")" "$rss_cairn_c"
	row "cairn backup (fsync=yes, default)" "$b_cf" "$(ratio "$b_cf" "$b_t")" "$rss_cairn_cf"
	row "zstd -dc \| tar -xf -" "$r_t" "1.00x" "$rss_tar_r"
	row "cairn restore" "$r_c" "$(ratio "$r_c" "$r_t")" "$rss_cairn_r"
	echo
	echo "stored: cairn $((size_c >> 20)) MiB, tar | zstd $((size_t >> 20)) MiB;" \
	     "standard deviations in $results/*.csv"
}
