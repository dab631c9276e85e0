"""Start the Tessera studio: `python launch.py` serves it at http://127.0.0.1:7860.

Options: --host --port --device --workspace DIR --checkpoint DIR --share --auth USER:PASS
(see `python launch.py --help`). The studio itself lives in studio/.
"""
import sys

from studio.app import main

if __name__ == "__main__":
    sys.exit(main())
