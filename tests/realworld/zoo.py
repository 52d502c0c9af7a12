"""Fetch pinned model-zoo releases with `pip download --no-deps` and unpack their model sources."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.environ.get("INITLINT_ZOO_CACHE", os.path.join(ROOT, ".zoo"))
PINS = {"timm": "1.0.31", "torchvision": "0.29.1", "transformers": "5.23.0"}
# what is linted, per zoo (globs relative to the unpacked wheel)
SOURCES = {
    "timm": ["timm/models/**/*.py", "timm/layers/**/*.py"],
    "torchvision": ["torchvision/models/**/*.py", "torchvision/ops/**/*.py"],
    "transformers": ["transformers/models/*/modeling_*.py", "transformers/modeling_utils.py",
                     "transformers/initialization.py", "transformers/activations.py",
                     "transformers/pytorch_utils.py"],
}


class ZooUnavailable(RuntimeError):
    pass


def fetch(name: str) -> str:
    """Directory holding the unpacked sources of zoo `name` (downloaded once, then cached)."""
    version = PINS[name]
    dest = os.path.join(CACHE, f"{name}-{version}")
    marker = os.path.join(dest, ".complete")
    if os.path.exists(marker):
        return dest
    wheels = os.path.join(CACHE, "wheels")
    os.makedirs(wheels, exist_ok=True)
    found = glob.glob(os.path.join(wheels, f"{name}-{version}-*.whl"))
    if not found:
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                               "-d", wheels, f"{name}=={version}"], capture_output=True, text=True,
                              timeout=600)
        found = glob.glob(os.path.join(wheels, f"{name}-{version}-*.whl"))
        if proc.returncode != 0 or not found:
            raise ZooUnavailable(f"pip download {name}=={version} failed: {proc.stderr[-500:]}")
    os.makedirs(dest, exist_ok=True)
    with zipfile.ZipFile(found[0]) as zf:
        for member in zf.namelist():
            if member.endswith(".py") and member.startswith(f"{name}/"):
                zf.extract(member, dest)
    open(marker, "w").close()
    return dest


def files(name: str) -> tuple[str, list[str]]:
    root = fetch(name)
    out: list[str] = []
    for pattern in SOURCES[name]:
        out.extend(glob.glob(os.path.join(root, pattern), recursive=True))
    return root, sorted(set(out))
