#!/usr/bin/env bash
# Mutation testing of the modules whose bugs ship wrong models (see docs/mutation.md).
#   pip install -e ".[test,mutation]" -c constraints/cpu.txt
#   bash scripts/mutation.sh [--jobs N] [--fresh] [--diffs] [--min-score PCT] [MODULE ...]
# MODULE: parity validation weights fileio models export artifacts wire verify (default: all).
# Uses the active environment's python (or $PYTHON); installs nothing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec "${PYTHON:-python3}" "$here/mutation.py" "$@"
