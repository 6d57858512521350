#!/usr/bin/env bash
# bench/ingest.sh - time `instacap analyze` against its peers on the same pcap, in the same run.
#
# usage: bench/ingest.sh [--runs N] [--tshark-runs N] [--instacap-only] [--keep] FILE...
#   --runs N          timed runs per tool (default 3), after one untimed warm-up run
#   --tshark-runs N   timed runs for tshark (default 1, no warm-up: it is slow)
#   --instacap-only   time only `cat` (the floor) and Instacap
#   --keep            keep the scratch directory (case dirs, Suricata logs, raw times)
#
# Per FILE, each tool is measured with GNU time (`/usr/bin/time -f '%e %U %S %M'`); the table shows
# the median wall, CPU (user + sys) and peak RSS of the timed runs:
#   cat FILE > /dev/null                                   floor (page cache)
#   node bin/instacap.mjs analyze FILE --case DIR --json   fresh, empty case dir for every run
#   ... the same with --no-protocols                       flows only: the cost of the protocol parsers
#                                                          (its runs alternate with the row above; the
#                                                          parser target is the median per-round ratio)
#   tshark -r FILE -T fields -e ... (8 fields)             as in shared/bench/run-peers.sh
#   suricata -r FILE -k none -l DIR -S /dev/null           packaged yaml, no rules, fresh log dir
#   ndpiReader -i FILE                                     only if installed
# "Instacap speed-up" is peer wall / Instacap wall (> 1: Instacap is faster).
# Packets from `capinfos -c -M`. Instacap is built once before timing (`npm run build`, in a
# snapshot of the sources in the scratch dir, so edits made by others during the run change nothing).
# Scratch goes to a mktemp dir under ${TMPDIR:-/tmp} (removed at exit unless --keep).
set -euo pipefail

REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
INSTACAP="$REPO/bin/instacap.mjs"
TIME=/usr/bin/time

RUNS=3
TSHARK_RUNS=1
INSTACAP_ONLY=0
KEEP=0
FILES=()

usage() { sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "ingest.sh: $*" >&2; exit 2; }
is_count() { [[ $1 =~ ^[0-9]+$ ]] && (( $1 >= 1 )); }

while (( $# )); do
  case "$1" in
    --runs) [[ $# -ge 2 ]] && is_count "$2" || die "--runs needs a number >= 1"; RUNS=$2; shift 2;;
    --runs=*) is_count "${1#*=}" || die "--runs needs a number >= 1"; RUNS=${1#*=}; shift;;
    --tshark-runs) [[ $# -ge 2 ]] && is_count "$2" || die "--tshark-runs needs a number >= 1"; TSHARK_RUNS=$2; shift 2;;
    --tshark-runs=*) is_count "${1#*=}" || die "--tshark-runs needs a number >= 1"; TSHARK_RUNS=${1#*=}; shift;;
    --instacap-only) INSTACAP_ONLY=1; shift;;
    --keep) KEEP=1; shift;;
    -h|--help) usage; exit 0;;
    --) shift; FILES+=("$@"); break;;
    -*) usage >&2; die "unknown option: $1";;
    *) FILES+=("$1"); shift;;
  esac
done
(( ${#FILES[@]} )) || { usage >&2; die "no FILE given"; }

# ------------------------------------------------------------------ tool checks
missing=()
need() {   # need COMMAND PACKAGE-HINT
  command -v "$1" > /dev/null 2>&1 || missing+=("  $1  (install: $2)")
}
[[ -x $TIME ]] || missing+=("  $TIME  (GNU time; install: apt-get install -y time)")
need node "Node.js >= 20"
need npm "npm (comes with Node.js)"
need python3 "apt-get install -y python3"
need capinfos "apt-get install -y wireshark-common"
if (( ! INSTACAP_ONLY )); then
  need tshark "apt-get install -y tshark"
  need suricata "apt-get install -y -t bookworm-backports suricata  (Suricata 7; see shared/bench/README.md)"
fi
if (( ${#missing[@]} )); then
  echo "ingest.sh: missing tools:" >&2
  printf '%s\n' "${missing[@]}" >&2
  (( INSTACAP_ONLY )) || echo "(--instacap-only needs only node, npm, python3, capinfos and GNU time)" >&2
  exit 2
fi
[[ -f $INSTACAP ]] || die "Instacap entry point not found: $INSTACAP"
HAVE_NDPI=0
(( INSTACAP_ONLY )) || ! command -v ndpiReader > /dev/null 2>&1 || HAVE_NDPI=1
for f in "${FILES[@]}"; do
  [[ -f $f && -r $f ]] || die "not a readable file: $f"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/instacap-bench.XXXXXX")
cleanup() { if (( KEEP )); then echo "scratch kept: $WORK" >&2; else rm -rf "$WORK"; fi; }
trap cleanup EXIT

# ------------------------------------------------------------------ build once, outside the timing
# Others edit the tree while this runs, and bin/instacap.mjs recompiles stale sources inside a
# run. So the sources (common/ engine/ cli/ bin/, package.json, tsconfig*) are copied to a snapshot
# in the scratch dir (node_modules symlinked), built there with `npm run build` and timed from
# there: every run measures the same code, and the repository's dist/ is left alone.
SNAP=$WORK/instacap
snapshot_build() {
  rm -rf "$SNAP"; mkdir -p "$SNAP"
  cp -a "$REPO/package.json" "$REPO"/tsconfig*.json "$REPO/bin" "$REPO/common" "$REPO/engine" "$REPO/cli" "$SNAP/"
  ln -s "$REPO/node_modules" "$SNAP/node_modules"
  (cd "$SNAP" && npm run --silent build) > "$WORK/build.log" 2>&1
}
echo "building Instacap (npm run build in a snapshot of $REPO) ..." >&2
[[ -d $REPO/node_modules ]] || die "$REPO/node_modules missing: run \`npm ci\` in $REPO first"
for attempt in 1 2 3; do
  snapshot_build && break
  if (( attempt == 3 )); then
    echo "ingest.sh: \`npm run build\` of the current sources failed 3 times (30 s apart):" >&2
    cat "$WORK/build.log" >&2
    exit 1
  fi
  echo "  build failed (sources mid-edit?); retrying in 30 s" >&2
  sleep 30
done
INSTACAP=$SNAP/bin/instacap.mjs
SRC_HASH=$(cd "$SNAP" && find common engine cli -name '*.ts' | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-12)

# ------------------------------------------------------------------ measuring
# prep_<key> IDX sets CMD (array), OUTF (stdout file) and does per-run cleanup; IDX 0 = warm-up.
prep_cat()      { CMD=(cat "$F"); OUTF=/dev/null; }
prep_instacap() {
  rm -rf "$WORK/case-$1"
  CMD=(node "$INSTACAP" analyze "$F" --case "$WORK/case-$1" --json); OUTF=$WORK/instacap-$1.json
}
prep_noproto() {
  rm -rf "$WORK/case-np-$1"
  CMD=(node "$INSTACAP" analyze "$F" --case "$WORK/case-np-$1" --json --no-protocols); OUTF=/dev/null
}
prep_tshark()   {
  CMD=(tshark -r "$F" -T fields -e frame.time_epoch -e ip.src -e ip.dst -e tcp.srcport -e tcp.dstport
       -e dns.qry.name -e http.host -e tls.handshake.extensions_server_name); OUTF=/dev/null
}
prep_suricata() {
  rm -rf "$WORK/suricata-$1"; mkdir -p "$WORK/suricata-$1"
  CMD=(suricata -r "$F" -k none -l "$WORK/suricata-$1" -S /dev/null); OUTF=/dev/null
}
prep_ndpi()     { CMD=(ndpiReader -i "$F"); OUTF=/dev/null; }

ok_status() {   # ok_status KEY RC: 0 if RC counts as success for that tool
  case "$1:$2" in
    *:0) return 0;;
    instacap:3) return 0;;     # partial: some input damaged, everything decodable stored
    *) return 1;;
  esac
}

# measure KEY LABEL RUNS WARMUP(0/1): appends "KEY<TAB>LABEL<TAB>rc<TAB>wall user sys rss ..." rows
measure() {
  local key=$1 label=$2 n=$3 warm=$4 i
  : > "$WORK/$key.times"
  echo "  $label: $( ((warm)) && echo "warm-up + ")$n run(s)" >&2
  for (( i = (warm ? 0 : 1); i <= n; i++ )); do
    run_once "$key" "$label" "$i" || return 0
  done
}

# measure_pair KEY1 LABEL1 KEY2 LABEL2 RUNS: both warmed up, then their timed runs in turn (KEY1 run
# 1, KEY2 run 1, KEY1 run 2, ...), so that the machine's drift over minutes touches both alike;
# the report adds the median of the per-round ratios
measure_pair() {
  local k1=$1 l1=$2 k2=$3 l2=$4 n=$5 i
  : > "$WORK/$k1.times"
  : > "$WORK/$k2.times"
  echo "  $l1 / $l2: warm-up + $n run(s) each, in turn" >&2
  for (( i = 0; i <= n; i++ )); do
    run_once "$k1" "$l1" "$i" || return 0
    run_once "$k2" "$l2" "$i" || return 0
  done
}

# run_once KEY LABEL IDX: one run (IDX 0 = untimed warm-up); appends "KEY<TAB>LABEL<TAB>rc<TAB>wall user sys rss"
# to KEY's times file, or a FAIL row (and returns 1)
run_once() {
  local key=$1 label=$2 i=$3 rc
  "prep_$key" "$i"
  [[ $key == instacap ]] && IC_LAST=$i
  if (( i == 0 )); then
    "${CMD[@]}" > "$OUTF" 2> "$WORK/$key-$i.err" && rc=0 || rc=$?
  else
    "$TIME" -f '%e %U %S %M' -o "$WORK/$key-$i.time" "${CMD[@]}" > "$OUTF" 2> "$WORK/$key-$i.err" && rc=0 || rc=$?
  fi
  [[ $key == suricata ]] && rm -rf "$WORK/suricata-$i"   # eve.json is big; keep the disk quiet
  if ! ok_status "$key" "$rc"; then
    local which="timed run $i"; (( i )) || which="warm-up run"
    echo "$key	$label	FAIL	exit $rc in $which" >> "$WORK/$key.times"
    {
      echo "ingest.sh: $label failed (exit $rc, $which) on $(basename "$F"): ${CMD[*]}"
      echo "---- stderr (verbatim) ----"
      cat "$WORK/$key-$i.err"
      [[ $OUTF == /dev/null ]] || { echo "---- stdout ----"; cat "$OUTF"; }
      echo "----"
    } | tee -a "$WORK/failures.txt" >&2
    return 1
  fi
  if (( i > 0 )); then
    # GNU time prepends "Command exited with non-zero status N" on failure: take the last line
    echo "$key	$label	$rc	$(tail -n 1 "$WORK/$key-$i.time")" >> "$WORK/$key.times"
  fi
}

# ------------------------------------------------------------------ report
machine_line() {
  local load; load=$(cut -d' ' -f1-3 /proc/loadavg)
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load avg $load; $(date -u '+%Y-%m-%d %H:%M UTC')"
}
versions_line() {
  local v="node $(node --version)"
  if (( ! INSTACAP_ONLY )); then
    v+=", $(suricata -V 2> /dev/null | sed -n 's/.*Suricata version \([^ ]*\).*/Suricata \1/p')"
    v+=", tshark $(tshark -v 2> /dev/null | head -n 1 | awk '{print $3}')"
    if (( HAVE_NDPI )); then v+=", ndpiReader present"; else v+=", ndpiReader not installed (skipped)"; fi
  fi
  local rev dirty=""
  rev=$(git -C "$REPO" rev-parse --short HEAD 2> /dev/null || echo '?')
  [[ -n $(git -C "$REPO" status --porcelain -- common engine cli 2> /dev/null) ]] && dirty=" + uncommitted changes in common/ engine/ cli/"
  echo "versions: $v; instacap $rev$dirty (snapshot sources sha256 $SRC_HASH)"
}

table() {   # table FILE BYTES PKTS KEY...
  local file=$1 bytes=$2 pkts=$3; shift 3
  local k files=()
  for k in "$@"; do files+=("$WORK/$k.times"); done
  python3 - "$bytes" "$pkts" "${files[@]}" <<'PY'
import sys, statistics as st
b, p = int(sys.argv[1]), int(sys.argv[2])
rows = []
for path in sys.argv[3:]:
    lines = [l.rstrip('\n').split('\t') for l in open(path) if l.strip()]
    if not lines:
        continue
    key, label = lines[0][0], lines[0][1]
    fail = [l for l in lines if l[2] == 'FAIL']
    if fail:
        rows.append((key, label, None, fail[0][3]))
        continue
    t = [list(map(float, l[3].split())) for l in lines]
    walls = [x[0] for x in t]
    rows.append((key, label, dict(n=len(t), wall=st.median(walls), cpu=st.median(x[1] + x[2] for x in t),
                                  rss=st.median(x[3] for x in t) / 1024, walls=walls), None))
ic = next((r[2] for r in rows if r[0] == 'instacap' and r[2]), None)
print('| tool | runs | wall s | cpu s | peak RSS MiB | Mpkt/s | MB/s | Instacap speed-up (peer wall / Instacap wall) |')
print('|---|---|---|---|---|---|---|---|')
for key, label, m, err in rows:
    if m is None:
        print(f'| {label} | - | FAILED ({err}) | | | | | |')
        continue
    w = m['wall']
    rss = f"{m['rss']:.0f}" if m['rss'] > 11 else '<= 11'
    if w <= 0:   # below GNU time's 10 ms resolution
        print(f"| {label} | {m['n']} | < 0.01 | {m['cpu']:.2f} | {rss} | > {p / 0.01 / 1e6:.1f} | > {b / 0.01 / 1e6:.0f} | |")
        continue
    ratio = '(self)' if key == 'instacap' else (f"{w / ic['wall']:.2f}x" if ic and ic['wall'] > 0 else '-')
    print(f"| {label} | {m['n']} | {w:.2f} | {m['cpu']:.2f} | {rss} | {p / w / 1e6:.3f} | {b / w / 1e6:.0f} | {ratio} |")
print()
for key, label, m, err in rows:
    if m:
        print(f"wall of each run, {label}: " + ' '.join(f'{w:.2f}' for w in m['walls']))
if ic:
    print()
    sur = next((r[2] for r in rows if r[0] == 'suricata' and r[2]), None)
    if sur and ic['wall'] > 0:
        r = sur['wall'] / ic['wall']
        print(f"target: wall >= 3x faster than Suricata-no-rules: {r:.2f}x -> {'PASS' if r >= 3 else 'FAIL'} (meant for the 1 GB file)")
    print(f"target: peak RSS < 1024 MiB: {ic['rss']:.0f} MiB -> {'PASS' if ic['rss'] < 1024 else 'FAIL'}")
    npr = next((r[2] for r in rows if r[0] == 'noproto' and r[2]), None)
    if npr and npr['wall'] > 0:
        # the runs alternated: each round's ratio, and their median (robust to the machine's drift)
        rounds = [a / b for a, b in zip(ic['walls'], npr['walls']) if b > 0]
        r = st.median(rounds) if len(rounds) == len(ic['walls']) else ic['wall'] / npr['wall']
        print(f"protocols on / off per round (runs in turn): " + ' '.join(f'{x:.2f}' for x in rounds))
        # the spread of the rounds, so that a verdict this close to the line reads as what it is
        spread = ''
        if len(rounds) >= 4:
            q = st.quantiles(rounds, n=4)
            spread = f" (quartiles of the rounds {q[0]:.2f}-{q[2]:.2f})"
        print(f"target: protocol parsers cost <= 1.5x (wall with / without, median of the rounds): {r:.2f}x{spread} -> {'PASS' if r <= 1.5 else 'FAIL'}")
    with open(sys.argv[3].rsplit('/', 1)[0] + '/summary.tsv', 'a') as out:
        out.write(f"{b}\t{p}\t{ic['wall']:.3f}\t{ic['cpu']:.3f}\t{ic['rss']:.1f}\n")
PY
}

instacap_totals() {   # totals from the last run's --json output
  local last=$1 pkts=$2
  [[ -s $WORK/instacap-$last.json ]] || { echo "Instacap JSON: (no output on stdout)"; return 0; }
  python3 - "$WORK/instacap-$last.json" "$pkts" <<'PY'
import sys, json
try:
    j = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
except Exception as e:
    print(f'Instacap JSON: could not parse ({e}): {open(sys.argv[1]).read()[:500]!r}')
    sys.exit(0)
t = j.get('totals', {})
cap = int(sys.argv[2])
pk = t.get('packets')
note = '' if pk == cap else f' (capinfos: {cap:,})'
print(f"Instacap JSON (last run): status {j.get('status')}, packets {pk:,}{note}, flows {t.get('flows', 0):,}, "
      f"bytes {t.get('bytes', 0):,}, anomalies {t.get('anomalies', 0):,}, elapsed_sec {j.get('elapsed_sec')}")
for e in j.get('errors') or []:
    print(f"Instacap error: {e.get('message', e) if isinstance(e, dict) else e}")
PY
}

echo "# Instacap ingest benchmark"
echo
machine_line
versions_line
echo "runs: $RUNS (median, after one untimed warm-up); tshark: $TSHARK_RUNS (no warm-up)"

for F in "${FILES[@]}"; do
  F=$(readlink -f "$F")
  BYTES=$(stat -c %s "$F")
  PKTS=$(capinfos -c -M -T -r "$F" 2> "$WORK/capinfos.err" | awk -F'\t' 'END {print $2}') || true
  [[ $PKTS =~ ^[0-9]+$ ]] || die "capinfos could not count packets in $F: $(cat "$WORK/capinfos.err")"
  echo "measuring $F ($BYTES bytes, $PKTS packets)" >&2
  for k in cat instacap noproto tshark suricata ndpi; do rm -f "$WORK/$k.times"; done
  IC_LAST=0
  measure cat 'floor: cat > /dev/null' "$RUNS" 1
  measure_pair instacap 'Instacap analyze --json' noproto 'Instacap analyze --no-protocols (flows only)' "$RUNS"
  keys=(cat instacap noproto)
  if (( ! INSTACAP_ONLY )); then
    measure suricata 'Suricata, no rules (-S /dev/null)' "$RUNS" 1;     keys+=(suricata)
    if (( HAVE_NDPI )); then measure ndpi 'ndpiReader -i' "$RUNS" 1; keys+=(ndpi); fi
    measure tshark 'tshark -T fields (8 fields)' "$TSHARK_RUNS" 0;     keys+=(tshark)
  fi
  echo
  echo "## $(basename "$F")"
  echo
  echo "$BYTES bytes, $PKTS packets; load avg after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  table "$F" "$BYTES" "$PKTS" "${keys[@]}"
  instacap_totals "$IC_LAST" "$PKTS"
done

if [[ -f $WORK/summary.tsv ]] && (( $(wc -l < "$WORK/summary.tsv") > 1 )); then
  echo
  echo "## Instacap across files"
  echo
  python3 - "$WORK/summary.tsv" <<'PY'
import sys
rows = sorted((tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()), key=lambda r: r[0])
print('| file MB | packets | wall s | cpu s | peak RSS MiB | s per GB | RSS vs smallest file |')
print('|---|---|---|---|---|---|---|')
for b, p, w, c, m in rows:
    print(f'| {b / 1e6:.0f} | {p:.0f} | {w:.2f} | {c:.2f} | {m:.0f} | {w / (b / 1e9):.2f} | {m / rows[0][4]:.2f}x |')
one = [r for r in rows if 0.9e9 <= r[0] <= 1.25e9]
two = [r for r in rows if 1.8e9 <= r[0] <= 2.5e9]
if one and two:
    q = two[0][4] / one[0][4]
    print(f"\ntarget: 2 GB peak RSS <= 1.3x 1 GB peak RSS: {q:.2f}x -> {'PASS' if q <= 1.3 else 'FAIL'}")
PY
fi
if [[ -s $WORK/failures.txt ]]; then
  echo
  echo "## Failures"
  echo
  echo '```'
  cat "$WORK/failures.txt"
  echo '```'
fi
