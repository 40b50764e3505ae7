import sys

from vidlle.cli import main

sys.exit(main())
