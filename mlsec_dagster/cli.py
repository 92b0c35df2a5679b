"""``mlsec``: scan a tree, print the rule catalogue, check a policy file.

Imports the scanning engine only, never Dagster, so a CI step or a pre-commit hook starts in a
fraction of a second. Exit codes are the contract CI relies on: 0 the policy passed, 1 it
failed, 2 the tool could not do its job (bad arguments, bad policy file, missing path,
unwritable output); errors are one clear line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

import yaml

from mlsec_dagster.engine.baseline import BaselineError, load_baseline, write_baseline
from mlsec_dagster.engine.findings import Severity
from mlsec_dagster.engine.policy import Policy, with_sampling
from mlsec_dagster.engine.policy_file import (
    POLICY_FILE_NAMES,
    PolicyError,
    find_policy_file,
    load_policy,
    load_policy_for_root,
    policy_reference_markdown,
    policy_to_dict,
)
from mlsec_dagster.engine.rules import all_rules, catalogue_markdown
from mlsec_dagster.engine.scan import ScanResult, default_root, scan_path
from mlsec_dagster.reports.json_report import TOOL_NAME, render_json, tool_version
from mlsec_dagster.reports.sarif import DEFAULT_CATEGORY, render_sarif
from mlsec_dagster.reports.text import printable, render_text, summary_line, use_color

EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2
PROGRESS_INTERVAL_SECONDS = 2.0

_EXIT_CODES = """exit codes:
  0  the policy passed (findings below the threshold may still be reported)
  1  the policy failed: at least one blocking finding
  2  usage or tool error: bad arguments, invalid policy file, missing path, unwritable output"""

_SCAN_EPILOG = f"""examples:
  mlsec scan .                                   # text report; policy from ./mlsec.yaml if present
  mlsec scan models/ data/ --fail-on MEDIUM      # stricter gate than the policy file
  mlsec scan . --format json --output mlsec.json
  mlsec scan . --full-scan --enforce-safetensors --sarif --output report.sarif   # GitHub code scanning

The policy file is --policy FILE, else the first of {", ".join(POLICY_FILE_NAMES)}
in the scan root, else built-in defaults; --fail-on and --enforce-safetensors override it.
Nothing scanned is ever imported, unpickled or executed.

{_EXIT_CODES}"""


class UsageError(Exception):
    """A problem with what the user asked for: reported as one line, exit code 2."""


def _severity(value: str) -> Severity:
    try:
        return Severity.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class ProgressPrinter:
    """Progress on stderr (never stdout, which may carry the report), at most every ``interval``.

    ``announce`` (``--progress``) also prints the first and last line, so even a short scan
    shows what it did; otherwise a scan quicker than ``interval`` prints nothing.
    """

    def __init__(
        self, stream: TextIO, *, announce: bool, interval: float = PROGRESS_INTERVAL_SECONDS
    ) -> None:
        self.stream = stream
        self.announce = announce
        self.interval = interval
        self.started = time.monotonic()
        self.last = self.started
        self.printed = False

    def _emit(self, line: str) -> None:
        print(f"mlsec: {line}", file=self.stream, flush=True)
        self.printed = True
        self.last = time.monotonic()

    def __call__(self, done: int, total: int, current: str) -> None:
        """Called before each file and, inside long files, as they progress (same ``done``)."""
        if done == total:
            if self.announce or self.printed:
                self._emit(f"scanned {total} files in {time.monotonic() - self.started:.1f} s")
        elif done == 0 and self.announce and not self.printed:
            self._emit(f"scanning {total} files")
        elif time.monotonic() - self.last >= self.interval:
            self._emit(f"{done}/{total} files scanned; now {printable(current)}")


# -- scan ----------------------------------------------------------------------------------


def _effective_policy(args: argparse.Namespace, root: Path) -> Policy:
    policy = load_policy(args.policy) if args.policy else load_policy_for_root(root)
    if args.fail_on is not None:
        policy = dataclasses.replace(policy, fail_on_severity=args.fail_on)
    if args.enforce_safetensors:
        rules = dataclasses.replace(policy.artifact_rules, require_safetensors_format=True)
        policy = dataclasses.replace(policy, artifact_rules=rules)
    if getattr(args, "no_baseline", False):
        policy = dataclasses.replace(policy, baseline=None)
    elif getattr(args, "baseline", None):
        try:
            policy = dataclasses.replace(policy, baseline=load_baseline(args.baseline))
        except BaselineError as exc:
            raise UsageError(f"--baseline: {exc}") from None
    try:
        return with_sampling(policy, sample_rows=args.sample_rows, full_scan=args.full_scan)
    except ValueError as exc:
        raise UsageError(f"--sample-rows/--full-scan: {exc}") from None


def _prepare_output(output: Path) -> None:
    """Fail before a long scan, not after it, when the report cannot be written."""
    if output.is_dir():
        raise UsageError(f"--output {output} is a directory")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the folder of --output {output}: {exc.strerror or exc}") from None
    if not os.access(output.parent, os.W_OK) or (output.exists() and not os.access(output, os.W_OK)):
        raise UsageError(f"--output {output} is not writable")


def _without_own_report(policy: Policy, output: Path, root: Path) -> Policy:
    """The previous run's report is not an artifact: its quoted evidence would be reported again."""
    try:
        rel = output.resolve().relative_to(root).as_posix()
    except ValueError:
        return policy
    pattern = "/" + re.sub(r"([*?\[\]\\!#])", r"\\\1", rel)  # anchored, wildcards escaped
    return dataclasses.replace(policy, exclude=(*policy.exclude, pattern))


def _render(result: ScanResult, args: argparse.Namespace, to_terminal: bool) -> str:
    if args.format == "json":
        return render_json(result)
    if args.format == "sarif":
        return render_sarif(result, category=args.sarif_category)
    color = to_terminal and use_color(sys.stdout, args.no_color)
    return render_text(result, color=color, quiet=args.quiet)


def cmd_scan(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.paths]
    for path in paths:
        if not os.path.lexists(path):
            raise UsageError(f"no such file or directory: {path}")
    if args.root is not None and not Path(args.root).is_dir():
        raise UsageError(f"--root {args.root} is not a directory")
    root = Path(args.root).resolve() if args.root is not None else default_root(paths)
    policy = _effective_policy(args, root)
    output = Path(args.output) if args.output else None
    if output is not None:
        _prepare_output(output)
        policy = _without_own_report(policy, output, root)
    show_progress = not args.quiet and (args.progress or sys.stderr.isatty())
    progress = ProgressPrinter(sys.stderr, announce=args.progress) if show_progress else None
    result = scan_path(*paths, policy=policy, root=root, progress=progress)
    report = _render(result, args, to_terminal=output is None)
    if output is None:
        sys.stdout.write(report)
        sys.stdout.flush()
    else:
        try:
            output.write_text(report, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write --output {output}: {exc.strerror or exc}") from None
        if not args.quiet:
            line = summary_line(result, color=use_color(sys.stderr, args.no_color))
            print(f"mlsec: {line}; {args.format} report: {output}", file=sys.stderr)
    return result.decision.exit_code


def cmd_baseline(args: argparse.Namespace) -> int:
    """Record today's findings so that only new ones fail the gate from now on."""
    paths = [Path(p) for p in args.paths]
    for path in paths:
        if not os.path.lexists(path):
            raise UsageError(f"no such file or directory: {path}")
    root = Path(args.root).resolve() if args.root is not None else default_root(paths)
    args.fail_on = args.enforce_safetensors = args.sample_rows = None
    args.full_scan, args.no_baseline = True, True
    output = Path(args.output)
    _prepare_output(output)
    policy = _without_own_report(_effective_policy(args, root), output, root)
    result = scan_path(*paths, policy=policy, root=root)
    count = write_baseline(result.findings, output, f"{TOOL_NAME} {tool_version()}")
    print(
        f"mlsec: {count} finding(s) recorded in {output}; set `policy.baseline: {output.name}` in the policy "
        "(or pass --baseline) so that only new findings fail. Review it: everything in it is accepted.",
        file=sys.stderr,
    )
    return EXIT_PASS


# -- rules and policy ------------------------------------------------------------------------


def cmd_rules(args: argparse.Namespace) -> int:
    if args.format == "json":
        catalogue = [
            {
                "id": rule.id,
                "title": rule.title,
                "severity": rule.severity.name,
                "family": rule.family,
                "tags": list(rule.tags),
                "description": rule.description,
                "remediation": rule.remediation,
            }
            for rule in all_rules()
        ]
        print(json.dumps(catalogue, indent=2))
    else:
        print(catalogue_markdown())
    return EXIT_PASS


def cmd_policy_check(args: argparse.Namespace) -> int:
    if args.file is not None:
        path: Path | None = Path(args.file)
    else:
        root = Path(args.root or ".")
        path = find_policy_file(root)
        if path is None:
            print(
                f"mlsec: no policy file ({', '.join(POLICY_FILE_NAMES)}) in {root}; built-in defaults apply",
                file=sys.stderr,
            )
    policy = Policy() if path is None else load_policy(path)
    header = "# effective policy: " + (f"{path} (valid)" if path else "built-in defaults") + "\n"
    print(header + yaml.safe_dump(policy_to_dict(policy), sort_keys=False), end="")
    if path is not None:
        print(f"mlsec: {path} is valid", file=sys.stderr)
    return EXIT_PASS


def cmd_policy_reference(args: argparse.Namespace) -> int:
    print(policy_reference_markdown())
    return EXIT_PASS


# -- parser --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="mlsec",
        description="Static MLSecOps gate: scans model artifacts without ever loading or executing them.",
        epilog="run `mlsec scan --help` for the scan options.\n\n" + _EXIT_CODES,
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"{TOOL_NAME} {tool_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    scan = commands.add_parser(
        "scan", help="scan files and folders, report, exit 1 when the policy fails",
        description="Scan files and folders statically and gate on the policy.",
        epilog=_SCAN_EPILOG, formatter_class=formatter,
    )  # fmt: skip
    scan.add_argument("paths", nargs="*", default=["."], metavar="PATH", help="files or folders (default: .)")
    scan.add_argument(
        "--policy", metavar="FILE", help="policy file (default: mlsec.yaml / veritensor.yaml in the root)"
    )
    scan.add_argument("--format", choices=("text", "json", "sarif"), default="text", help="report format")
    scan.add_argument(
        "--sarif", dest="format", action="store_const", const="sarif", help="same as --format sarif"
    )
    scan.add_argument(
        "--output", "-o", metavar="FILE", help="write the report here (a summary still goes to stderr)"
    )
    scan.add_argument(
        "--fail-on", type=_severity, metavar="SEVERITY",
        help="fail on findings at or above INFO, LOW, MEDIUM, HIGH or CRITICAL (overrides the policy)",
    )  # fmt: skip
    scan.add_argument(
        "--enforce-safetensors", action="store_true",
        help="every pickle-based weight file is a HIGH finding (sets require_safetensors_format)",
    )  # fmt: skip
    scan.add_argument(
        "--full-scan", action="store_true",
        help="check every row of every dataset even if the policy sets dataset_rules.sample_rows (model "
        "files are always read completely, within the policy limits)",
    )  # fmt: skip
    scan.add_argument(
        "--sample-rows", type=int, metavar="N",
        help="opt-in sampling: check only the first N rows of each dataset file (reported as MLS-DAT-012)",
    )  # fmt: skip
    scan.add_argument(
        "--root", metavar="DIR", help="repository root: policy lookup, .mlsecignore, relative paths"
    )
    scan.add_argument(
        "--baseline", metavar="FILE",
        help="accepted findings (`mlsec baseline`): reported as suppressed, only new ones fail (overrides "
        "policy.baseline)",
    )  # fmt: skip
    scan.add_argument("--no-baseline", action="store_true", help="ignore policy.baseline: report everything")
    scan.add_argument("--sarif-category", default=DEFAULT_CATEGORY, help="SARIF automationDetails category")
    scan.add_argument("--no-color", action="store_true", help="no ANSI colours (also: NO_COLOR=1)")
    scan.add_argument(
        "--quiet", "-q", action="store_true", help="text: only blocking findings; no progress/summary"
    )
    scan.add_argument(
        "--progress", action="store_true", help="progress on stderr even when it is not a terminal"
    )
    scan.set_defaults(handler=cmd_scan)

    baseline = commands.add_parser(
        "baseline", help="record the current findings so that only new ones fail",
        description="Scan like `mlsec scan` (full scan, no baseline) and write every finding's fingerprint "
        "to FILE. No evidence or secret value is written.",
        formatter_class=formatter,
    )  # fmt: skip
    baseline.add_argument(
        "paths", nargs="*", default=["."], metavar="PATH", help="files or folders (default: .)"
    )
    baseline.add_argument("--output", "-o", required=True, metavar="FILE", help="baseline file to write")
    baseline.add_argument("--policy", metavar="FILE", help="policy file (default: the one in the root)")
    baseline.add_argument("--root", metavar="DIR", help="repository root (default: .)")
    baseline.set_defaults(handler=cmd_baseline)

    rules = commands.add_parser("rules", help="print the rule catalogue")
    rules.add_argument("--format", choices=("markdown", "json"), default="markdown")
    rules.set_defaults(handler=cmd_rules)

    policy = commands.add_parser("policy", help="validate a policy file, print the policy key reference")
    policy_commands = policy.add_subparsers(dest="policy_command", metavar="SUBCOMMAND", required=True)
    check = policy_commands.add_parser(
        "check", help="validate a policy file and print the effective policy (exit 2 when invalid)"
    )
    check.add_argument("file", nargs="?", metavar="FILE", help="default: the policy file in --root")
    check.add_argument("--root", metavar="DIR", help="where to look for the policy file (default: .)")
    check.set_defaults(handler=cmd_policy_check)
    reference = policy_commands.add_parser("reference", help="print every policy key as a markdown table")
    reference.set_defaults(handler=cmd_policy_reference)
    return parser


def _report_error(message: str) -> int:
    for line in message.splitlines() or [""]:
        print(f"mlsec: error: {line}", file=sys.stderr)
    return EXIT_ERROR


def _tolerant_streams() -> None:
    """A file name the console cannot encode must not turn a finding into a crash."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    _tolerant_streams()
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    try:
        return handler(args)
    except (UsageError, PolicyError, BaselineError) as exc:
        return _report_error(str(exc))
    except KeyboardInterrupt:
        return _report_error("interrupted")
    except OSError as exc:
        return _report_error(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
    except Exception as exc:  # the exit code contract: a crash is 2, never 1 or a pass
        if os.environ.get("MLSEC_DEBUG"):
            raise
        return _report_error(f"internal error: {type(exc).__name__}: {exc} (MLSEC_DEBUG=1 shows a traceback)")
