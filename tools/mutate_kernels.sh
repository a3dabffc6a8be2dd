#!/usr/bin/env bash
# Mutation test of the kernel checks: plants known bugs into a copy of kernels/ one at a time and
# runs the emulated checks (kernels/test/check_kernels.cpp on the emulator emu.h) against each; a
# mutant is "caught" when the checks fail (a wrong result, a reported fault, the watchdog or the
# per-mutant timeout), "MISSED" when they still pass.
#
# Mutations, found by regular expressions over every kernels/*.cu and *.cuh (code, not comments):
#   barrier   every __syncthreads() removed in turn
#   bound+    every relational comparison admits one more value:  a < b -> a - 1 < b,  a >= b -> a + 1 >= b
#   bound-    ... and one fewer:                                   a < b -> a + 1 < b,  a >= b -> a - 1 >= b
#             (the +-1 is added to the left operand, which is the same as shifting the bound)
#   partner   every shuffle partner changed: __shfl_xor_sync(.., o) -> o >> 1, __shfl_sync(.., j) -> j + 1,
#             __shfl_down/up_sync(.., d) -> d + 1
#   lane      every lane-to-fragment mapping changed: lane >> n -> lane >> (n ^ 1), lane & m -> lane & (m >> 1)
#   guard     every guard dropped: `if (c) return|continue|break;` -> never taken, other `if (c)` whose
#             condition compares -> always taken
# All mutants are compiled into one program (a mutant schema: each site reads the mutant number
# from DSEMU_MUTANT), so one g++ run serves them all; each mutant then runs in its own process with
# only the check families of the file it lives in (common.cuh: every family).
#
# Usage: tools/mutate_kernels.sh [--jobs N] [--only REGEX] [--timeout S] [--list] [--keep DIR]
#   --jobs N     mutants run in parallel (default 2)
#   --only RE    only mutants whose "file:line kind" description matches the extended regex RE
#   --timeout S  per-mutant wall-clock limit in seconds (default 600; counted as caught but listed
#                apart, since it proves slowness, not a wrong result)
#   --launch S   per-launch watchdog (DSEMU_LAUNCH_TIMEOUT, default 20 s): a mutant that never ends
#                a launch (e.g. a loop bound that never fails) is stopped and counted as caught
#   --list       print the mutants and exit
# Prints one line per mutant (caught/MISSED, file:line, the mutation) and "caught N of M (P%)".
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
jobs=2; only=""; timeout_s=600; launch_s=20; list=0
while [ $# -gt 0 ]; do
  case "$1" in
    --jobs) jobs="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --timeout) timeout_s="$2"; shift 2 ;;
    --launch) launch_s="$2"; shift 2 ;;
    --list) list=1; shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "mutate_kernels.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src" "$work/prep" "$work/res"
cp "$root"/kernels/*.cu "$root"/kernels/*.cuh "$work/src/"

# Rewrite the copy into the mutant schema; write the mutant table (id<TAB>file:line<TAB>families<TAB>what).
perl -e '
use strict; use warnings;
my ($dir, $table) = @ARGV;
my $id = 0;
open(my $T, ">", $table) or die;
opendir(my $D, $dir) or die;
my @files = sort grep { /\.(cu|cuh)$/ } readdir($D);
my %fam = ("gemm.cu" => "gemm", "attention.cu" => "attention", "layernorm.cu" => "layernorm",
           "elementwise.cu" => "elementwise", "batchnorm.cu" => "batchnorm", "conv.cu" => "conv",
           "resize.cu" => "resize", "cross_entropy.cu" => "cross_entropy", "adamw.cu" => "adamw",
           "gemm_tc.cu" => "tensor_core", "attention_tc.cu" => "tensor_core",
           "common.cuh" => "gemm attention layernorm elementwise batchnorm conv resize cross_entropy adamw tensor_core");
for my $f (@files) {
  # tc.cuh is the instruction layer: inline PTX under nvcc (never compiled here) and one-line
  # forwards to emu.h under g++; the emulator itself is checked by the tensor_core family.
  next if $f eq "tc.cuh";
  my $family = $fam{$f} // die "mutate_kernels.sh: no check family for $f (add it to the table)\n";
  open(my $I, "<", "$dir/$f") or die;
  my @lines = <$I>;
  close $I;
  for my $n (0 .. $#lines) {
    my $line = $lines[$n];
    next if $line =~ /^\s*(\/\/|#\s*(include|pragma))/;
    my ($code, $comment) = ($line, "");
    if ($line =~ /^(.*?)(\/\/.*)$/s) { ($code, $comment) = ($1, $2); }
    chomp $comment if $comment ne "";
    my $nl = ($code =~ s/\n$//) ? "\n" : ($comment ne "" ? "\n" : "");
    my $where = "$f:" . ($n + 1);
    my $emit = sub { my ($what) = @_; print $T join("\t", $id, $where, $family, $what), "\n"; return $id++; };
    my $clean = sub { my ($t) = @_; $t =~ s/ \+ EMU_OFF\(\d+, -?\d+, \d+\) //g; $t =~ s/^\s+|\s+$//g; return $t; };
    # template brackets are not comparisons: hide them from the scan below (restored after it)
    $code =~ s{(template\s*<[^<>]*>|\b\w+<\s*(?:\d+|[A-Z_][A-Z0-9_]*)(?:\s*[-+]\s*(?:\d+|[A-Z_][A-Z0-9_]*))*\s*>(?=\s*\())}{ (my $t = $1) =~ tr/<>/\x01\x02/; $t }ge;
    # relational operators (not part of << >> -> <<= >>=), on the original code
    my $out = "";
    while ($code =~ /\G(.*?)(?<![<>\-])(<=|>=|<|>)(?![<>=])/gcs) {
      my ($pre, $op) = ($1, $2);
      my $left = substr($out . $pre, -20); $left =~ s/^\s+//; $left = $clean->($left);
      my $right = substr($code, pos($code), 12); $right =~ s/\s+$//;
      my $more = ($op =~ /</) ? -1 : 1;
      my $a = $emit->(sprintf("bound one more: ...%s %s%s... -> ...%s %+d %s%s...", $left, $op, $right, $left, $more, $op, $right));
      my $b = $emit->(sprintf("bound one fewer: ...%s %s%s... -> ...%s %+d %s%s...", $left, $op, $right, $left, -$more, $op, $right));
      $out .= $pre . " + EMU_OFF($a, $more, $b) " . $op;
    }
    $code = $out . substr($code, pos($code) // 0);
    $code =~ tr/\x01\x02/<>/;
    # guards (balanced parentheses), barriers, shuffle partners
    $code =~ s{\bif\s*(\((?:[^()]++|(?1))*\))(\s*(return|continue|break)\b)?}{
      my ($cond, $exit) = ($1, $2);
      my $c = $clean->($cond);
      if (defined $exit) { my $k = $emit->("guard dropped: if $c$exit -> never taken"); "if (!EMU_MUT($k) && $cond)$exit" }
      elsif ($cond =~ /EMU_OFF/) { my $k = $emit->("guard dropped: if $c -> always taken"); "if (EMU_MUT($k) || $cond)" }
      else { "if $cond" }
    }ge;
    $code =~ s{__syncthreads\(\);}{ my $k = $emit->("barrier removed: __syncthreads()"); "if (!EMU_MUT($k)) __syncthreads();" }ge;
    $code =~ s{(__shfl_(?:xor_|down_|up_)?sync)\(([^(),]+),([^(),]+),([^(),]+)\)}{
      my ($fn, $m, $v, $p) = ($1, $2, $3, $4); my $pt = $p; $pt =~ s/^\s+|\s+$//g;
      my $new = $fn eq "__shfl_xor_sync" ? "($pt) >> 1" : "($pt) + 1";
      my $k = $emit->("shuffle partner changed: $fn(..., $pt) -> $new");
      "$fn($m,$v, EMU_MUT($k) ? $new : ($pt))"
    }ge;
    # lane arithmetic (which lane holds which fragment element or row address)
    $code =~ s{\blane\s*(>>|&)\s*(\d+)\b}{
      my ($op, $v) = ($1, $2); my $new = $op eq ">>" ? "lane >> " . ($v ^ 1) : "lane & " . ($v >> 1);
      my $k = $emit->("lane mapping changed: lane $op $v -> $new");
      "(EMU_MUT($k) ? ($new) : (lane $op $v))"
    }ge;
    $out = $code;
    $lines[$n] = $out . $comment . $nl;
  }
  open(my $O, ">", "$dir/$f") or die;
  print $O @lines;
  close $O;
}
' "$work/src" "$work/mutants.tsv"

total=$(wc -l < "$work/mutants.tsv")
if [ -n "$only" ]; then
  awk -F'\t' -v re="$only" '($2 " " $4) ~ re' "$work/mutants.tsv" > "$work/selected.tsv"
else
  cp "$work/mutants.tsv" "$work/selected.tsv"
fi
if [ "$list" = 1 ]; then
  awk -F'\t' '{printf "%4d %-20s %s\n", $1, $2, $4}' "$work/selected.tsv"
  echo "$(wc -l < "$work/selected.tsv") of $total mutants"
  exit 0
fi

cat > "$work/schema.h" <<'EOF'
// Mutant schema: DSEMU_MUTANT selects the one planted bug that is active (none when unset).
#pragma once
#include <cstdlib>
inline const int emu_mutant_id = std::getenv("DSEMU_MUTANT") ? std::atoi(std::getenv("DSEMU_MUTANT")) : -1;
#define EMU_MUT(k) (emu_mutant_id == (k))
#define EMU_OFF(a, da, b) (emu_mutant_id == (a) ? (da) : emu_mutant_id == (b) ? -(da) : 0)
EOF
bash "$root/kernels/test/prepare.sh" "$work/prep" "$work/src"
echo "[mutate] compiling $total mutants into one program ..."
source "$root/kernels/test/flags.sh"
g++ "${EMU_CXXFLAGS[@]}" -include "$work/schema.h" -I"$work/prep" -I"$root/kernels/test" \
    -x c++ "$root/kernels/test/check_kernels.cpp" -o "$work/check"
echo "[mutate] the unmutated kernels must pass first ..."
if ! DSEMU_LAUNCH_TIMEOUT=60 "$work/check" > "$work/baseline.txt" 2>&1; then
  grep -v '^ok' "$work/baseline.txt" | tail -20
  echo "[mutate] the checks fail without any mutation: fix that first" >&2
  exit 1
fi

export work timeout_s launch_s
run_one() {
  IFS=$'\t' read -r id where families what <<< "$1"
  local rc=0
  # shellcheck disable=SC2086
  DSEMU_MUTANT="$id" DSEMU_LAUNCH_TIMEOUT="$launch_s" timeout -k 5 "$timeout_s" "$work/check" $families \
      > "$work/res/$id.log" 2>&1 || rc=$?
  if [ "$rc" = 0 ]; then
    printf 'MISSED\t%s\t%s\t%s\n' "$id" "$where" "$what" > "$work/res/$id.txt"
  else
    why=$(grep -m1 -E '^FAIL|emu watchdog|emu_launch' "$work/res/$id.log" | cut -c1-100 || true)
    if [ "$rc" = 124 ] && ! grep -q 'emu watchdog' "$work/res/$id.log"; then
      why="per-mutant timeout ${timeout_s}s"   # slow, not proven wrong: counted, and reported apart
    fi
    printf 'caught\t%s\t%s\t%s\t[%s]\n' "$id" "$where" "$what" "${why:-exit $rc}" > "$work/res/$id.txt"
  fi
  cat "$work/res/$id.txt"
}
export -f run_one
n=$(wc -l < "$work/selected.tsv")
echo "[mutate] running $n mutants, $jobs at a time (timeout ${timeout_s}s each) ..."
tr '\n' '\0' < "$work/selected.tsv" | xargs -0 -P "$jobs" -I{} bash -c 'run_one "$1"' _ {} > /dev/null
echo
for f in "$work"/res/*.txt; do cat "$f"; done | sort -t$'\t' -k2,2n | awk -F'\t' '{printf "%-6s %-20s %s %s\n", $1, $3, $4, $5}'
caught=$(cat "$work"/res/*.txt | grep -c '^caught' || true)
echo
slow=$(cat "$work"/res/*.txt | grep -c 'per-mutant timeout' || true)
watch=$(cat "$work"/res/*.txt | grep -c 'emu watchdog' || true)
echo "($watch stopped by the launch watchdog, $slow by the per-mutant timeout)"
awk -v c="$caught" -v n="$n" 'BEGIN { printf "caught %d of %d (%.1f%%)\n", c, n, n ? 100 * c / n : 0 }'
