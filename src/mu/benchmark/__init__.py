# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""What `mu benchmark` runs: the contenders, the clocks, analytic FLOPs, the machine's roof and the report."""
