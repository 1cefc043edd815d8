"""``deevisum plan``: the GPU memory each pipeline stage needs for a params file, as a table (and JSON).

The plan (``deevisum.scale.plan``: torch, transformers) is imported when the command runs, so
``deevisum --help`` and the other commands, which import this module to build their parser, do
not pay for it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from deevisum.config import load_params
from deevisum.io import write_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file (default params.yaml)")
    parser.add_argument("--gpu-gb", type=float, default=80.0, help="GPU memory in GiB (default 80)")
    parser.add_argument("--segments", type=int, help="examples in the dataset, one per second (default: TVSum's)")
    parser.add_argument("--prompt-tokens", type=int, help="prompt length in tokens (default: estimated from prompts)")
    parser.add_argument("--json", type=Path, help="also write the plan as JSON here")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the plan; exit status 1 on bad params, 3 when a stage does not fit."""
    from deevisum.scale.plan import make_plan

    try:
        plan = make_plan(load_params(args.params), args.gpu_gb, args.segments, args.prompt_tokens)
    except (OSError, ValueError, yaml.YAMLError) as e:  # ParamsError is a ValueError
        print(f"deevisum plan: {args.params}: {e}", file=sys.stderr)
        return 1
    print(plan.table())
    report = plan.to_json()
    if args.json:
        write_json(args.json, report)
    return 0 if report["all_fit"] else 3
