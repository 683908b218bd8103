import sys

from auditor.cli import main

# Guarded: a process pool started by spawn imports the parent's main module again, and must not run the CLI.
if __name__ == "__main__":
    sys.exit(main())
