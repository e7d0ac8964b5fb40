"""Where a Streamlit server's time goes while a benchmark drives it: py-spy samples the server
process (every thread, idle included), and the script threads' time is printed by function.
Optional: without py-spy installed (`pip install py-spy`) it says so and the benchmark goes on.
Used by bench/studio_latency.py (`--profile OUT`)."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path


class ServerProfile:
    """py-spy sampling the server (every thread, idle included) while it is open; optional."""

    def __init__(self, pid: int, out: str | None):
        self.proc, self.out = None, out
        exe = shutil.which("py-spy")
        if out is None:
            return
        if exe is None:
            print("profile: skipped (pip install py-spy)")
            return
        args = [exe, "record", "--pid", str(pid), "--idle", "--threads", "--rate", "250"]
        self.proc = subprocess.Popen(
            [*args, "--format", "raw", "--output", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(1.0)  # attached

    def close(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(2)  # SIGINT: py-spy writes its file and exits
        self.proc.wait(timeout=60)
        print_profile(self.out)


def print_profile(path: str, top: int = 16) -> None:
    """The script threads' time (those running our pages) by function, inclusive, as a share of
    their samples (idle included: a wait shows as the function that waits); only the project's own
    frames and Streamlit's element calls."""
    inclusive: dict[str, int] = {}
    total = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if "ScriptRunner" not in frames[0] or not count.isdigit():
            continue  # not a script thread
        n = int(count)
        total += n
        seen = set()
        for frame in frames[1:]:
            name = re.sub(r":\d+\)$", ")", frame)
            where = name.rpartition("(")[2]
            if name in seen or not where.startswith(("studio/", "pages/", "core/", "streamlit/elements/")):
                continue
            seen.add(name)
            inclusive[name] = inclusive.get(name, 0) + n
    print(f"profile: the script threads' samples by function (inclusive, {total} samples; py-spy raw file {path})")
    for name, n in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {100 * n / max(total, 1):5.1f} %  {name}")


__all__ = ["ServerProfile", "print_profile"]
