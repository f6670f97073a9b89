"""``stratoflow qc FILE --out OUT.nc``: quality-control any readable file, without a database."""

from __future__ import annotations

import argparse
import json
from typing import Any

from stratoflow import open_dataset, write_dataset
from stratoflow.commands.arguments import WRITE_TERMINATED, output_file, output_not_input
from stratoflow.commands.inspect import add_reader_arguments, parse_options
from stratoflow.dataset import data_variables, flag_name
from stratoflow.errors import UsageError
from stratoflow.flags import Flag, count_flags
from stratoflow.jobs.interrupt import sigterm_raises


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the sub-command to the CLI."""
    p = sub.add_parser(
        "qc",
        help="run QC tests on a file and write it with flag variables",
        description="Read FILE, run the QC tests configured per variable, evaluate them and "
        "write the data with <var>_flag variables (IAGOS validity flags, CF attributes). "
        "Flags the file already has are kept as <var>_provider_flag, and <var>_flag combines "
        "them with the QC verdict (the worse flag wins; not_validated defers to the other).",
    )
    p.add_argument("file", help="the file to read")
    p.add_argument("--config", help="QC configuration YAML (default: the shipped defaults)")
    p.add_argument("--evaluation", help="evaluation method: worst, mean, vote, critical, ...")
    add_reader_arguments(p)
    p.add_argument(
        "--out",
        required=True,
        type=output_file,
        help="netCDF file to write (its directory must exist)",
    )
    p.add_argument("--tests", action="store_true", help="also write each test's probabilities")
    p.add_argument("--json", action="store_true", help="print the flag counts as JSON")
    p.set_defaults(func=run, when_terminated=WRITE_TERMINATED)


def run(args: argparse.Namespace) -> int:
    """Run the sub-command."""
    output_not_input(args.out, {"the input file": args.file, "the QC configuration": args.config})
    from stratoflow.qc import provider_flag_name, run_qc
    from stratoflow.qc.evaluation import evaluation_names

    if args.evaluation is not None and args.evaluation not in evaluation_names():
        # a mistyped option, like any other: a usage error (exit 2), before the file is read
        raise UsageError(
            f"--evaluation: unknown evaluation {args.evaluation!r}; "
            f"installed: {', '.join(evaluation_names())}"
        )

    with sigterm_raises():  # SIGTERM unwinds like Ctrl-C: the writer removes its .part file
        ds = open_dataset(args.file, reader=args.reader, **parse_options(args.option))
        result = run_qc(ds, config=args.config, evaluation=args.evaluation)
        flagged = result.to_dataset(ds, include_tests=args.tests)
        out = write_dataset(flagged, args.out, writer="netcdf")
    # what was written: the QC verdict combined with the file's own flags, where it had some
    counts = {name: count_flags(flagged[flag_name(name)].values) for name in result.flags}
    qc_only = result.counts()
    provider = {
        name: provider_flag_name(name)
        for name in result.flags
        if provider_flag_name(name) in flagged.data_vars
    }
    # variables no profile of the configuration matched: said, not silently left out
    unmatched = [n for n in data_variables(ds) if n not in result.variables]
    summary: dict[str, Any] = {
        "file": str(args.file),
        "out": str(out),
        "evaluation": result.method,
        "parameters": dict(result.params),
        "variables": {
            name: {
                "profile": result.variables[name].profile,
                "tests": [t.label for t in result.variables[name].tests],
                "skipped": dict(result.variables[name].skipped),
                "units_converted": result.variables[name].converted or None,
                "flags": counts[name],
                "qc_flags": qc_only[name],
                "provider_flags": (
                    count_flags(flagged[provider[name]].values) if name in provider else None
                ),
            }
            for name in counts
        },
        "unmatched": unmatched,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    labels = [f.label for f in Flag]
    width = max((len(n) for n in counts), default=8)
    print(f"{args.file} -> {out}  (evaluation: {result.method})")
    print(f"  {'variable':<{width}}  " + "  ".join(f"{lab:>13}" for lab in labels))
    for name, c in counts.items():
        print(f"  {name:<{width}}  " + "  ".join(f"{c[lab]:>13}" for lab in labels))
    if provider:
        print(
            "  flags combine QC with the file's own flags, kept as " + ", ".join(provider.values())
        )
    if unmatched:
        print(f"  not judged, no profile of the configuration matches: {', '.join(unmatched)}")
        if not args.config:
            print("  (the shipped defaults are tuned for airliner data; give others with --config)")
    return 0
