#!/usr/bin/env bash
# Prepared data reused, streamed and memory-mapped (issue 13, items 1-3):
#  1. the same spec run twice with one store cache: the second run links the cached store
#     (the "data: ..." line each run prints, and summary.json's timing);
#  2. the driver's peak RSS while preparing (`cerebro prepare` under /usr/bin/time -v:
#     streaming keeps it near one partition, not the dataset);
#  3. the workers' RSS and PSS (smaps_rollup, sampled while units run): partitions are
#     mapped from the page cache, so task-parallel replicas share their pages and PSS
#     counts them once.
# Data: runs train on Fashion-MNIST (RUN_DATA=aug: the augmented 300K set); the
# preparation RSS is measured on the 300K set (bench/make_augmented.py; AUG=1 makes it)
# when bench/work/fmnist-aug exists, else on Fashion-MNIST.
# Writes bench/results/<date>-prepare-cache.md.
# BASE_BUILD_DIR=DIR (binaries of a build that reads partitions into memory) adds a task
# run with them, for the workers' memory before mapping.
#   usage: BUILD_DIR=build [BASE_BUILD_DIR=...] bench/prepare_cache.sh [WORKERS=2]
set -euo pipefail
cd "$(dirname "$0")/.."
WORKERS=${1:-2}
PY=/usr/bin/python3
WORK=$(mktemp -d /tmp/cerebro-prepare-bench-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cp "${BUILD_DIR:-build}/cerebro" "${BUILD_DIR:-build}/cerebro-worker" "$WORK/"
BIN="$WORK/cerebro"
export CEREBRO_CACHE="$WORK/cache"  # never the user's ~/.cache

if [[ "${AUG:-0}" == 1 && ! -d bench/work/fmnist-aug ]]; then
  "$PY" bench/make_augmented.py --out bench/work/fmnist-aug
fi
FMNIST=examples/fashion_mnist/mlp_grid.yaml
AUGSPEC=bench/specs/mlp_aug_4.yaml
SPEC=$FMNIST; DATA="Fashion-MNIST (60,000 train images)"
PREP_SPEC=$FMNIST; PREP_DATA=$DATA
if [[ -d bench/work/fmnist-aug ]]; then
  PREP_SPEC=$AUGSPEC; PREP_DATA="augmented Fashion-MNIST (300,000 train images)"
  if [[ "${RUN_DATA:-}" == aug ]]; then SPEC=$AUGSPEC; DATA=$PREP_DATA; fi
fi

# Samples Rss/Pss of every cerebro-worker into $1 until the run ends.
sample_workers() {
  while true; do
    for pid in $(pgrep -x cerebro-worker || true); do  # comm: exec'd and forked workers alike
      [[ -r /proc/$pid/smaps_rollup ]] || continue
      awk -v pid="$pid" '/^(Rss|Pss|Pss_Anon|Pss_File):/ {printf "%s %s %s\n", pid, $1, $2}' \
        "/proc/$pid/smaps_rollup" 2>/dev/null || true
    done >> "$1"
    sleep 0.5
  done
}

run_once() {  # name, extra flags... (RUN_BIN: another cerebro)
  local name=$1; shift
  sample_workers "$WORK/$name.mem" & local sampler=$!
  "${RUN_BIN:-$BIN}" run "$SPEC" --epochs 1 --workers "$WORKERS" --quiet --out "$WORK/$name" "$@" \
    > "$WORK/$name.out" 2> "$WORK/$name.err"
  kill "$sampler"; wait "$sampler" 2>/dev/null || true
}

run_once first
run_once second
run_once task --strategy task
if [[ -n "${BASE_BUILD_DIR:-}" ]]; then
  mkdir -p "$WORK/base"
  cp "$BASE_BUILD_DIR/cerebro" "$BASE_BUILD_DIR/cerebro-worker" "$WORK/base/"
  RUN_BIN="$WORK/base/cerebro" run_once task-base --strategy task
fi
# The driver's own floor (LibTorch is linked and loaded), then preparing into 4 partitions.
/usr/bin/time -v "$BIN" --help > /dev/null 2> "$WORK/floor.time" || true
/usr/bin/time -v "$BIN" prepare "$PREP_SPEC" --partitions 4 --out "$WORK/prepared" \
  > /dev/null 2> "$WORK/prepare.time"
if [[ -n "${BASE_BUILD_DIR:-}" ]]; then
  /usr/bin/time -v "$WORK/base/cerebro" prepare "$PREP_SPEC" --partitions 4 \
    --out "$WORK/prepared-base" > /dev/null 2> "$WORK/prepare-base.time"
fi

"$PY" - "$WORK" "$SPEC" "$WORKERS" "$DATA" "$PREP_SPEC" "$PREP_DATA" <<'PY'
import collections, datetime, json, os, platform, re, subprocess, sys
work, spec, workers, data, prep_spec, prep_data = sys.argv[1], sys.argv[2], int(sys.argv[3]), *sys.argv[4:7]

def data_line(name):
    for line in open(f"{work}/{name}.err"):
        if "data: " in line and "prepared store" in line:
            return line.split("info: ", 1)[-1].strip()
    return "(no data line)"

def timing(name):
    return json.load(open(f"{work}/{name}/summary.json"))["timing"]

def max_rss_mb(path):
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(path).read())
    return int(m.group(1)) / 1024 if m else float("nan")

def workers_mem(name):  # per worker: the largest sample of each field, MB
    peak = collections.defaultdict(lambda: collections.defaultdict(int))
    for line in open(f"{work}/{name}.mem"):
        pid, field, kb = line.split()
        peak[pid][field.rstrip(":")] = max(peak[pid][field.rstrip(":")], int(kb))
    rows = list(peak.values())
    total = lambda f: sum(r[f] for r in rows) / 1024
    return len(rows), total("Rss"), total("Pss"), total("Pss_File"), total("Pss_Anon")

cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                     capture_output=True, text=True).stdout.strip()
t1, t2 = timing("first"), timing("second")
lines = [f"# Prepared data reused, streamed, memory-mapped ({datetime.date.today()})", "",
         f"Machine: {platform.node()}, {os.cpu_count()} cores ({cpu}); shared with other "
         "agents while this ran, so read the ratios, not the seconds.",
         f"Command: `bench/prepare_cache.sh {workers}` ({spec}: {data}; 1 epoch, "
         f"{workers} workers).", "",
         "## 1. A second run of the same spec skips preparation", "",
         "| run | data line | prepare+start s | wall s |", "|---|---|---|---|",
         f"| first | {data_line('first')} | {t1['prepare_seconds']:.2f} | {t1['wall_seconds']:.1f} |",
         f"| second | {data_line('second')} | {t2['prepare_seconds']:.2f} | {t2['wall_seconds']:.1f} |",
         "", f"Set-up (preparation + worker start) of the second run: "
         f"**{t2['prepare_seconds'] / max(t1['prepare_seconds'], 1e-9):.2f}x** the first's.", "",
         "## 2. Driver peak RSS while preparing (streaming)", "",
         f"`cerebro prepare {prep_spec} --partitions 4` ({prep_data}), max RSS "
         "(/usr/bin/time -v):", "",
         f"- this build: **{max_rss_mb(f'{work}/prepare.time'):.0f} MB** (target <= 200 MB for "
         f"the 300K set), of which {max_rss_mb(f'{work}/floor.time'):.0f} MB is the floor of "
         "`cerebro --help` (the driver links and loads LibTorch)"]
if os.path.exists(f"{work}/prepare-base.time"):
    lines.append(f"- BASE_BUILD_DIR (whole source in memory): "
                 f"{max_rss_mb(f'{work}/prepare-base.time'):.0f} MB")
lines += ["",
         "## 3. Workers' memory (mapped partitions)", "",
         "| run | workers | sum RSS MB | sum PSS MB | PSS file MB | PSS anon MB |",
         "|---|---|---|---|---|---|"]
labels = {"second": "mop (own partitions, mapped)", "task": "task (replicas, mapped)",
          "task-base": "task (replicas, read into memory: BASE_BUILD_DIR)"}
for name in labels:
    if not os.path.exists(f"{work}/{name}.mem"):
        continue
    n, rss, pss, pf, pa = workers_mem(name)
    label = labels[name]
    lines.append(f"| {label} | {n} | {rss:.0f} | {pss:.0f} | {pf:.0f} | {pa:.0f} |")
lines += ["", "RSS counts a shared page in every worker that maps it; PSS divides it among "
          "them, so sum(RSS) - sum(PSS) is what mapping saves over private copies."]
text = "\n".join(lines) + "\n"
print(text)
out = f"bench/results/{datetime.date.today()}-prepare-cache.md"
open(out, "w").write(text)
print("wrote", out)
PY
