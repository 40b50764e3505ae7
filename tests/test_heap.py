"""vidlle.heap: the glibc allocator settings take effect (checked in a child process)."""

import platform
import subprocess
import sys

import pytest

from vidlle.heap import keep_freed_buffers


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_freed_buffers_are_reused_without_new_mappings():
    # Like a frame's worth of buffers: four 16 MB arrays live together, then freed. By default
    # glibc maps some fresh and trims the freed heap top back to the kernel, so rounds fault
    # pages in again; with the settings the freed memory is reused.
    probe = (
        "import resource, sys\n"
        "import numpy as np\n"
        "from vidlle.heap import keep_freed_buffers\n"
        "if sys.argv[1] == 'on': assert keep_freed_buffers()\n"
        "def round(): return sum(int(a[::4096].sum()) for a in [np.ones(1 << 24, np.uint8) for _ in range(4)])\n"
        "round()\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "for _ in range(5): round()\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
    )
    faults = {mode: int(subprocess.run([sys.executable, "-c", probe, mode], capture_output=True, text=True,
                                       check=True).stdout) for mode in ("off", "on")}
    pages = 5 * 4 * (1 << 24) // 4096
    # Measured: ~10,000 faults per 5 rounds by default (an eighth of the pages), none with it.
    assert faults["off"] > pages // 20
    assert faults["on"] < pages // 200


def test_returns_a_verdict():
    assert keep_freed_buffers() is (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")
