"""``python -m tokenmill.operators.bpe``: build the ahead-of-time kernel module (see :mod:`operators.bpe.aot`)."""

import logging
import sys

from tokenmill.operators.bpe.aot import build

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    print(f"built {build()}", file=sys.stderr)
