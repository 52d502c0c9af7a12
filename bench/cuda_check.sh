#!/usr/bin/env bash
# The probe's CUDA check, for a machine with a GPU and a CUDA build of torch:
#
#     bench/cuda_check.sh            # uses $PYTHON, else .venv/bin/python, else python3
#
# Runs the `cuda`-marked probe tests (`--device cuda` on the MLP, the conv net and the test
# suite's real architectures: verdicts, prediction, --inputs moved to the device, --loss) and
# one text report. Exits non-zero when there is no usable GPU, so a skip cannot pass as a pass.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
"$PY" - <<'PYEOF'
import sys
import torch
if not torch.cuda.is_available():
    sys.exit(f"no usable CUDA GPU (torch {torch.__version__}, built with CUDA "
             f"{torch.version.cuda})")
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}")
PYEOF
"$PY" -m pytest -q -p no:cacheprovider tests/test_probe.py -k cuda -rs
"$PY" -m initlint probe tests.probe_models.arch:GPT --device cuda --no-static --batch-size 8 -q
