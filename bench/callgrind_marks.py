"""Instructions per request, counted by valgrind's callgrind: the same count for the same code
and inputs, whatever else the machine is doing.

CPU time per request varied ±20-30 % from one round to the next on this workplace's shared
2-core machines, more than most single steps of issue 14 change, so a step could be neither
shown nor ruled out. Callgrind counts the instructions the process executes (every thread;
PostgreSQL's own work is another process and is not in it), about 50 times slower than a
normal run.

A process run under callgrind marks the span to count with callgrind's client requests
(valgrind/callgrind.h), through a small C library built here with the machine's C compiler on
first use (bench/.build/, not committed). Outside valgrind the marks do nothing.

    marks = Marks.from_environment()   # None unless CALLGRIND_MARKS_LIB names the library
    marks.zero(); ...requests...; marks.dump("rest run by id")

The driver runs the process as `callgrind_command(out_dir) + [python, ...]` and reads each
dump's instruction total with `dumped_totals(out_dir)`.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
from pathlib import Path

BUILD = Path(__file__).with_name(".build")
ENVIRONMENT = "CALLGRIND_MARKS_LIB"
_SOURCE = """
#include <valgrind/callgrind.h>
void marks_zero(void) { CALLGRIND_ZERO_STATS; }
void marks_dump(const char *name) { CALLGRIND_DUMP_STATS_AT(name); }
"""


def build_library() -> Path:
    """The marks library, compiled once (needs cc and valgrind's headers)."""
    target = BUILD / "libcallgrind_marks.so"
    if target.exists():
        return target
    if shutil.which("valgrind") is None or not Path("/usr/include/valgrind/callgrind.h").exists():
        raise RuntimeError("counting instructions needs valgrind and its headers (callgrind.h)")
    BUILD.mkdir(exist_ok=True)
    source = BUILD / "callgrind_marks.c"
    source.write_text(_SOURCE)
    subprocess.run(
        ["cc", "-shared", "-fPIC", "-O1", "-o", str(target), str(source)],
        check=True,
        capture_output=True,
    )
    return target


class Marks:
    """Callgrind's zero and dump requests, from Python."""

    def __init__(self, library: str) -> None:
        lib = ctypes.CDLL(library)
        self._zero = lib.marks_zero
        self._dump = lib.marks_dump
        self._dump.argtypes = [ctypes.c_char_p]

    @classmethod
    def from_environment(cls) -> Marks | None:
        library = os.environ.get(ENVIRONMENT)
        return cls(library) if library else None

    def zero(self) -> None:
        """Start counting from here (what ran before is dropped)."""
        self._zero()

    def dump(self, name: str) -> None:
        """Write what was counted since the last zero or dump, under `name`."""
        self._dump(name.encode())


def callgrind_command(out_dir: Path) -> list[str]:
    """valgrind's command line (to put before the program's): no cache simulation, no
    per-line output, one file per dump in `out_dir`."""
    return [
        "valgrind",
        "--tool=callgrind",
        "--dump-line=no",
        "--dump-instr=no",
        "--compress-strings=no",
        f"--callgrind-out-file={out_dir}/callgrind.out.%p",
        "--quiet",
    ]


def dumped_totals(out_dir: Path) -> dict[str, int]:
    """Instructions counted in each dump a marked process wrote, by the name it was given."""
    totals: dict[str, int] = {}
    for path in sorted(out_dir.glob("callgrind.out.*")):
        text = path.read_text(errors="replace")
        trigger = re.search(r"^desc: Trigger: Client Request: (.+)$", text, re.MULTILINE)
        # `totals` (the sum of the dump's costs), not `summary`: in the first dump after a
        # zero, `summary` came out 10-20 % short of it, by a different amount in each run,
        # while `totals` repeated to 0.1 %; in later dumps the two agree.
        total = re.search(r"^totals: (\d+)", text, re.MULTILINE)
        if trigger is not None and total is not None:
            totals[trigger.group(1).strip()] = int(total.group(1))
    return totals
