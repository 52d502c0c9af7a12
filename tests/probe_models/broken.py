"""Factories that fail in each way the probe must report cleanly."""

import os
import subprocess
import sys
import time

from torch import nn


def raises(width=8):
    if width < 16:
        raise ValueError(f"width must be at least 16, got {width}")
    return nn.Linear(width, width)


def not_a_module():
    return 42


def hangs(pid_file=None):
    if pid_file:
        # a grandchild in the same process group: the time limit must kill it too
        p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        with open(pid_file, "w") as fh:
            fh.write(str(p.pid))
    while True:
        time.sleep(0.1)


class NeedsBigInput(nn.Module):
    """Flattens a 224×224 feature map: the inferred 32×32 input fails in forward."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 224 * 224, 10)

    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))


class Unknown(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(nn.init.kaiming_normal_(nn.Linear(8, 8).weight.detach().clone()))

    def forward(self, x):
        return x @ self.w


def huge():
    return nn.Linear(200_000, 200_000)  # 160 GB of float32


def env_marker():
    return nn.Linear(4, 4) if os.environ.get("X") is None else None


def big_linear():
    return nn.Linear(10_000, 10_000)  # 400 MB of float32


def escapes(pid_file):
    """Starts a child in a new session and a double-forked daemon (its parent exits, it is
    re-parented), then hangs: the time limit must kill both."""
    code = "import time; time.sleep(600)"
    a = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    daemon = ("import os, subprocess, sys\n"
              "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], "
              "start_new_session=True)\n"
              f"open({pid_file!r} + '.d', 'w').write(str(p.pid))\n"
              "os._exit(0)\n")
    subprocess.run([sys.executable, "-c", daemon], check=True)
    with open(pid_file + ".d") as fh:
        b = int(fh.read())
    with open(pid_file, "w") as fh:
        fh.write(f"{a.pid} {b}")
    while True:
        time.sleep(0.1)
