#!/usr/bin/env python3
"""sepcpp's benchmark: the layer suite against NumPy, TensorFlow and PyTorch.

The same as ``python -m sepcpp bench``; the implementation is the package ``sepcpp.bench``
(``--help`` lists the options). Examples::

    python benchmarks/bench.py                      # whole suite, 1 and all threads, table
    python benchmarks/bench.py --layers mnv1_56x128_s1 --threads all --json
    python benchmarks/bench.py --call-overhead      # microseconds per tiny call
"""

import sys

from sepcpp.bench import main

if __name__ == "__main__":
    sys.exit(main())
