"""Sampling profiles of a running giftq worker (py-spy, a dev dependency): its consumer and its pool processes.

`Profiler(pid, folder)` records the worker's main process and each of its children for a few seconds while a
benchmark runs, only while a thread holds the GIL (where the process spends CPU in Python, not where it waits),
then prints, per process kind, the frames that were on the stack in the largest share of samples (inclusive
time) and the frames that were running (self time).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import psutil

DURATION_S = 10
RATE_HZ = 200
TOP = 25
EVERYWHERE = 0.9  # a frame on this share of the stacks or more says nothing


class Profiler:
    """py-spy on one worker: its main process (the consumer) and its pool processes."""

    def __init__(self, pid: int, folder: Path, *, duration_s: int = DURATION_S):
        self._pids = {"consumer": [pid], "pool": [child.pid for child in psutil.Process(pid).children()]}
        self._folder, self._duration_s = folder, duration_s
        self._running: list[tuple[str, subprocess.Popen, Path]] = []
        self._py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"

    def start(self) -> None:
        """Start sampling every process for `duration_s` in the background."""
        for kind, pids in self._pids.items():
            for pid in pids:
                out = self._folder / f"profile-{kind}-{pid}.txt"
                command = [self._py_spy, "record", "--pid", str(pid), "--duration", str(self._duration_s), "--rate",
                           str(RATE_HZ), "--format", "raw", "--gil", "--output", str(out)]  # fmt: skip
                process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                self._running.append((kind, process, out))

    def report(self) -> None:
        """Wait for the samples and print the top frames of each process kind."""
        stacks: dict[str, Counter[str]] = {}
        for kind, process, out in self._running:
            process.wait()
            stacks.setdefault(kind, Counter()).update(_read_raw(out))
        for kind, counted in stacks.items():
            print(f"py-spy, worker {kind} ({sum(counted.values())} samples):")
            print("\n".join(f"  {line}" for line in top_frames(counted)))


def _read_raw(path: Path) -> Counter[str]:
    """py-spy's raw (collapsed) output: one `frame;frame;... count` line per distinct stack."""
    counted: Counter[str] = Counter()
    if not path.exists():
        return counted
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            counted[stack] += int(count)
    return counted


def top_frames(stacks: Counter[str], *, top: int = TOP) -> list[str]:
    """The frames with the most inclusive samples, each with its inclusive and self share; frames on nearly every
    stack (the process's start-up, its main loop) are left out."""
    total = sum(stacks.values()) or 1
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for stack, count in stacks.items():
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    return [f"{count * 100 / total:5.1f}% incl {own[frame] * 100 / total:5.1f}% self  {frame}"
            for frame, count in inclusive.most_common()[:top * 4] if count < total * EVERYWHERE][:top]  # fmt: skip
