import sys

from sklrank._cli import main

sys.exit(main())
