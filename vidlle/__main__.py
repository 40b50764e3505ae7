"""``python -m vidlle`` and the ``vidlle`` command (:func:`run`).

The stop signals are handled before the command line module is imported: a Ctrl-C that comes
while vidlle starts up (imports take a second or more on a busy machine) ends with
``vidlle: interrupted`` and exit 130 like one that comes later, not with Python's traceback.
"""

import os
import sys

from vidlle.signals import stop_signals_handled


def run() -> int:
    with stop_signals_handled():
        try:
            from vidlle.cli import main

            return main()
        except KeyboardInterrupt:  # before or after the command's own handling (start-up, exit)
            os.write(2, b"vidlle: interrupted\n")
            return 130


if __name__ == "__main__":
    sys.exit(run())
