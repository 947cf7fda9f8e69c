"""Run an ONNX graph nobody vouches for: in a child process with a wall-time and memory limit.

Executing a graph is not loading data: a file of a few hundred bytes holding a ``Loop`` with a
huge trip count runs for ever, and one ``ConstantOfShape`` can ask for any amount of memory.
Inside onnxruntime's C++ code no Python signal handler runs, so in-process neither Ctrl-C nor
SIGTERM would stop it. Here the graph runs in ``python -I`` (no site customisation, no
PYTHONPATH) with ``RLIMIT_AS`` and ``RLIMIT_CPU`` set before onnxruntime is imported; the
parent waits at most ``wall_s`` and kills the child then, or at once when the parent itself is
interrupted (Ctrl-C, SIGTERM), so ``inspect --run-graph`` ends when asked. The child dies with
the parent (``PR_SET_PDEATHSIG``) and reads the model from a pipe: it needs no file access.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from ..errors import ChanAttnError, MissingDependencyError

WALL_S = 10.0
MEMORY_BYTES = 1 << 30  # address space: Python, numpy and onnxruntime take about 0.3 GiB
MARKER = "chanattn_export-graph-run"

_CHILD = r"""
import json, resource, sys
wall, mem = float(sys.argv[2]), int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
cpu = int(2 * wall) + 2
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
try:
    import ctypes
    ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG = SIGKILL: never outlive the parent
except Exception:
    pass
head = json.loads(sys.stdin.buffer.readline())
data = sys.stdin.buffer.read()
try:
    import numpy as np
    import onnxruntime as ort
except ImportError as e:
    print(json.dumps({"unavailable": str(e)[:200]}))
    sys.exit(0)
try:
    opts, quiet = ort.SessionOptions(), ort.RunOptions()
    opts.log_severity_level = quiet.log_severity_level = 4
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
    arg = sess.get_inputs()[0]
    dtype = np.float16 if arg.type == "tensor(float16)" else np.float32  # fp16 I/O files
    x = np.random.default_rng(0).standard_normal(head["shape"]).astype(dtype)
    ys = sess.run(None, {arg.name: x}, quiet)
    print(json.dumps({"outputs": [list(y.shape) for y in ys]}))
except MemoryError:
    print(json.dumps({"error": "MemoryError", "memory": True}))
except Exception as e:
    text = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
    print(json.dumps({"error": text, "memory": "allocat" in text.lower()}))
"""


class GraphRunError(ChanAttnError):
    """The graph did not run to the end within its limits (or failed)."""


def run_limited(data: bytes, shape: list[int], *, wall_s: float = WALL_S,
                memory_bytes: int = MEMORY_BYTES) -> list[tuple[int, ...]]:
    """The output shapes of ``data`` run once at ``shape`` on CPU, in a limited child process.
    A :data:`~chanattn_export.export.unseen.GraphRunner` for the lint; raises
    :class:`GraphRunError` naming the limit that stopped it."""
    payload = json.dumps({"shape": shape}).encode() + b"\n" + data
    argv = [sys.executable, "-I", "-c", _CHILD, f"{MARKER}-{os.getpid()}", repr(wall_s),
            str(memory_bytes)]
    with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as proc:
        try:
            out, err = proc.communicate(payload, timeout=wall_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise GraphRunError(f"did not finish within {wall_s:g} s (stopped; a graph that "
                                "runs this long at a small input would stall a server)") \
                from None
        except BaseException:  # Ctrl-C, SIGTERM: the child goes with us, now
            proc.kill()
            raise
    return _answer(proc.returncode, out, err, memory_bytes)


def _answer(code: int, out: bytes, err: bytes, memory_bytes: int) -> list[tuple[int, ...]]:
    limit = f"{memory_bytes / (1 << 30):g} GiB"
    try:
        doc = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("outputs"), list):
        return [tuple(int(d) for d in s) for s in doc["outputs"]]
    if isinstance(doc, dict) and "unavailable" in doc:  # the lint skips the rule, as in-process
        raise MissingDependencyError(f"the graph run needs numpy and onnxruntime importable by "
                                     f"{sys.executable} -I: {doc['unavailable']}")
    if isinstance(doc, dict) and doc.get("memory"):
        raise GraphRunError(f"needs more memory than the {limit} it may use here")
    if isinstance(doc, dict) and "error" in doc:
        raise GraphRunError(str(doc["error"]))
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals.__members__.values() \
            else str(-code)
        raise GraphRunError(f"was stopped by {name} (limits: {limit} of memory, CPU time)")
    last = (err.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
    if "MemoryError" in last or "bad_alloc" in last:
        raise GraphRunError(f"needs more memory than the {limit} it may use here")
    raise GraphRunError(f"the run ended with exit status {code}: {last[:200]}")


__all__ = ["MARKER", "MEMORY_BYTES", "WALL_S", "GraphRunError", "run_limited"]
