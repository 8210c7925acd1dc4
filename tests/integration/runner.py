"""How the end-to-end tests find and run the `sluice` binary.

The binary is $SLUICE_BIN, else $SLUICE_BUILD_DIR/sluice, else
/work/main/build/sluice. Every command runs under a timeout, so a hung binary
fails its test instead of blocking the suite.
"""

import os
import subprocess
from pathlib import Path


def sluice_binary():
    env = os.environ.get("SLUICE_BIN")
    if env:
        return env
    build = os.environ.get("SLUICE_BUILD_DIR", "/work/main/build")
    return str(Path(build) / "sluice")


SLUICE = sluice_binary()
TESTDATA = Path(os.environ.get("SLUICE_TESTDATA_DIR", "/work/shared/testdata"))


def run(*args, timeout=300, check=False):
    """Runs `sluice ARGS`; returns the CompletedProcess (text mode)."""
    r = subprocess.run([SLUICE, *map(str, args)], capture_output=True, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"sluice {' '.join(map(str, args))} exited {r.returncode}:\n"
                             f"{r.stderr}")
    return r
