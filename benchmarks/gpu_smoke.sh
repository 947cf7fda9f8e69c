#!/usr/bin/env bash
# GPU smoke test: about ten minutes on a machine with an NVIDIA GPU, torch with CUDA and
# onnxruntime-gpu. One PASS / FAIL / SKIP line per step; exit 1 if any step failed.
#
#   bash benchmarks/gpu_smoke.sh --require-cuda   # on the GPU machine: an absent GPU is a FAIL
#   bash benchmarks/gpu_smoke.sh --cpu-only       # CPU-safe steps only, CUDA steps SKIPPED
#   bash benchmarks/gpu_smoke.sh                  # CUDA steps run where torch sees a GPU
#
# Options: --out DIR (default: a fresh temporary folder, kept with each step's log);
# PYTHON=... picks the interpreter (default: python).
set -u

PY=${PYTHON:-python}
CPU_ONLY=0
REQUIRE=0
OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --cpu-only) CPU_ONLY=1 ;;
        --require-cuda) REQUIRE=1 ;;
        --out) OUT="$2"; shift ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "gpu_smoke: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
[ -n "$OUT" ] || OUT=$(mktemp -d "${TMPDIR:-/tmp}/gpu-smoke.XXXXXX")
mkdir -p "$OUT/logs" || exit 2
N_PASS=0 N_FAIL=0 N_SKIP=0

report() {  # report STATUS NAME [REASON]
    case "$1" in
        PASS) N_PASS=$((N_PASS + 1)) ;;
        FAIL) N_FAIL=$((N_FAIL + 1)) ;;
        SKIP) N_SKIP=$((N_SKIP + 1)) ;;
    esac
    echo "$1 $2${3:+: $3}"
}

run_step() {  # run_step NAME COMMAND...: PASS on exit 0, else FAIL with the log's last line
    local name=$1 log="$OUT/logs/$1.log" t0=$SECONDS
    shift
    "$@" >"$log" 2>&1
    local rc=$?
    if [ "$rc" = 0 ]; then
        report PASS "$name" "$((SECONDS - t0)) s"
    else
        local last
        last=$(grep -v '^[[:space:]]*$' "$log" | tail -n 1)
        report FAIL "$name" "${last:-exit $rc} (log: $log)"
    fi
}

cuda_step() {  # cuda_step NAME COMMAND...: a GPU step, skipped with the reason when no GPU
    if [ -n "$NO_CUDA" ]; then
        if [ "$REQUIRE" = 1 ]; then report FAIL "$1" "$NO_CUDA"; else report SKIP "$1" "$NO_CUDA"; fi
        return
    fi
    run_step "$@"
}

cli() { "$PY" -m chanattn_export "$@"; }

# --- CPU-safe steps -------------------------------------------------------------------------

# Also writes why CUDA steps cannot run here (empty when torch sees a GPU) to $OUT/no-cuda.
run_step versions "$PY" -c '
import sys, numpy, onnx, onnxruntime as ort, torch
print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda,
      "onnx", onnx.__version__, "onnxruntime", ort.__version__, ort.get_available_providers())
with open(sys.argv[1], "w") as f:
    f.write("" if torch.cuda.is_available() else f"torch {torch.__version__} sees no CUDA GPU")
' "$OUT/no-cuda"

# One interpreter for the three CLI calls: one torch import instead of three.
run_step cpu-export-verify "$PY" -c '
import sys
from chanattn_export.cli import main
out = sys.argv[1]
tiny = ["--model", "se", "--channels", "8", "--height", "8", "--width", "8", "--devices", "cpu"]
for cmd in (["torchscript", *tiny, "--out", out], ["onnx", *tiny, "--out", out],
            ["verify", out, "--devices", "cpu"]):
    code = main(cmd)
    if code:
        sys.exit(f"{cmd[0]} exited {code}")
' "$OUT/cpu"

# --- CUDA steps -----------------------------------------------------------------------------

if [ "$CPU_ONLY" = 1 ]; then
    NO_CUDA="--cpu-only given"
elif [ -f "$OUT/no-cuda" ]; then
    NO_CUDA=$(cat "$OUT/no-cuda")
else
    NO_CUDA="the versions step failed (see its log)"
fi

cuda_step torch-cuda "$PY" -c '
import torch
x = torch.randn(256, 256, device="cuda")
torch.cuda.synchronize()
assert torch.allclose((x @ x).cpu(), x.cpu() @ x.cpu(), atol=1e-2), "matmul on CUDA is wrong"
print(torch.cuda.get_device_name(0))
'

# Built with CUDA is not enough: the session must really run on CUDAExecutionProvider.
cuda_step onnxruntime-cuda "$PY" -c '
import numpy as np, onnx, onnxruntime as ort
from onnx import TensorProto, helper
assert "CUDAExecutionProvider" in ort.get_available_providers(), \
    "onnxruntime has no CUDAExecutionProvider: install onnxruntime-gpu instead of onnxruntime"
t = helper.make_tensor_value_info
g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                      [t("x", TensorProto.FLOAT, [4])], [t("y", TensorProto.FLOAT, [4])])
model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
s = ort.InferenceSession(model.SerializeToString(), providers=["CUDAExecutionProvider"])
assert s.get_providers()[0] == "CUDAExecutionProvider", \
    f"onnxruntime fell back to {s.get_providers()[0]} (CUDA/cuDNN libraries missing?)"
x = np.array([-1, 0, 1, 2], np.float32)
assert (s.run(None, {"x": x})[0] == np.maximum(x, 0)).all()
'

GPU="$OUT/gpu"
cuda_step export-all-cuda cli all --channels 16 --height 8 --width 8 --devices cpu,cuda \
    --out "$GPU"
cuda_step verify-cuda cli verify "$GPU" --devices cuda

parity_cuda() {  # every artifact passes on eager-cuda, torchscript-cuda and onnxruntime-cuda
    cli parity "$GPU" --devices cuda | tee "$OUT/parity-cuda.txt" || return 1
    for b in eager-cuda torchscript-cuda onnxruntime-cuda; do
        grep -Eq " $b .* PASS *$" "$OUT/parity-cuda.txt" || { echo "no PASS row for $b"; return 1; }
    done
}
cuda_step parity-cuda parity_cuda

bench_check() {  # bench_check DIR: some CUDA case was timed, and no case failed
    "$PY" - "$1/bench.json" <<'EOF'
import json, sys
rows = json.load(open(sys.argv[1]))["results"]
timed = [r for r in rows if r["device"] == "cuda" and r.get("median_ms") is not None]
bad = [r for r in rows if r.get("error")]
assert timed, "no CUDA case was timed: " + "; ".join(str(r.get("skipped")) for r in rows)
assert not bad, "failed cases: " + "; ".join(f"{r['backend']}: {r['error']}" for r in bad)
print(len(timed), "CUDA cases timed")
EOF
}

bench_cuda() {  # bench_cuda DTYPE [--include-transfer]
    local dir="$OUT/bench-$1${2:+-transfer}"
    cli bench --quick --devices cuda --dtype "$1" ${2:+"$2"} --no-plot --no-progress \
        --out "$dir" && bench_check "$dir"
}
cuda_step bench-cuda-float32 bench_cuda float32
cuda_step bench-cuda-float32-transfer bench_cuda float32 --include-transfer
cuda_step bench-cuda-float16 bench_cuda float16
cuda_step bench-cuda-float16-transfer bench_cuda float16 --include-transfer

echo "gpu smoke: $N_PASS PASS, $N_FAIL FAIL, $N_SKIP SKIP (logs in $OUT/logs)"
[ "$N_FAIL" = 0 ]
