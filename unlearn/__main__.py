"""`python -m unlearn ...` (used by torchrun) is the same as the `unlearn` command."""
import sys

from unlearn.cli import main

sys.exit(main())
