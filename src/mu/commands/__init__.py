# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""The `mu` subcommands, one module each.

`make_parser(subparsers)` adds its parser, `run(args)` runs it and returns the exit status. Heavy imports wait for
`run`, so that `mu --help` and the light commands stay fast."""
