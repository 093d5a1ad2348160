"""The `aufera` command layer: one module per subcommand.

Each module has `add_parser(subparsers)`, which adds the subcommand's
parser, and `run(args)`, which calls the library and prints the result; the
library modules (`aufera.training`, `aufera.evaluation`, `aufera.reproduce`,
...) take values and return values, and never parse arguments or print
results. `aufera.cli` only builds the parser from `COMMANDS` and dispatches.
Argument values are checked by the types of `aufera.commands.validators`,
so a bad value is one line naming the flag and the value, exit status 2,
before anything is written.
"""

COMMANDS = ("synth", "prepare", "train", "evaluate", "reproduce", "predict", "export")
