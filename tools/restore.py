"""Render the Job that restores a milvus-backup backup into a stack's cluster (apply it with `kubectl apply -f`).

    python -m tools.restore prod scheduled_20261130_020000 > restore.yaml
    python -m tools.restore prod scheduled_20261130_020000 --suffix _restored
    python -m tools.restore prod --list | kubectl apply -f -

Existing collections are refused unless `--overwrite` (drop them first) or `--suffix` (restore beside them):
milvus-backup checks every target collection before it copies any data. See docs/runbook.md "Restore a backup".
No cloud access: the Job reuses the ConfigMap and service account `pulumi up` created for the scheduled backups.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Iterable

import yaml

from render import backup as rb


class _PlainDumper(yaml.SafeDumper):
    """No `&id001` anchors for the label maps the manifest repeats: kubectl reads them, reviewers should not."""

    def ignore_aliases(self, data) -> bool:
        return True


def _settings(stack: str):
    """The stack file read and validated as `pulumi up` would (stacks.validation)."""
    from stacks.stack_file import read_stack_file, stack_file, stack_name
    from stacks.validation import load_stack_config

    return load_stack_config(read_stack_file(stack_file(stack)), stack_name(stack))


def render(stack: str, options: rb.RestoreOptions | None) -> str:
    """The manifest as YAML: the restore Job, or the list Job when `options` is None."""
    settings = _settings(stack)
    if not settings.milvus.backup.enabled:
        raise rb.RestoreError(
            f"milvus.backup.enabled is false in stack {stack}: its cluster has no backup configuration or restore "
            f"role; enable backups and run `pulumi up` first")
    manifest = rb.list_job_manifest(settings) if options is None else rb.restore_job_manifest(settings, options)
    return yaml.dump(manifest, Dumper=_PlainDumper, sort_keys=False)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.restore", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="stack name (dev, prod) or a Pulumi.<stack>.yaml file")
    parser.add_argument("backup", nargs="?", help="backup name, e.g. scheduled_20261130_020000")
    parser.add_argument("--list", action="store_true", help="render a Job that lists the backups instead")
    parser.add_argument("--overwrite", action="store_true",
                        help="drop existing collections of the same name before restoring them (deletes data)")
    parser.add_argument("--suffix", default="", help="restore as <collection><suffix> beside existing ones")
    parser.add_argument("--collections", default="",
                        help="comma-separated db.collection (or db.*) to restore; default: the whole backup")
    parser.add_argument("-o", "--output", type=Path, help="write the manifest here instead of stdout")
    args = parser.parse_args(list(argv) if argv is not None else None)

    from stacks.errors import ConfigError
    from stacks.stack_file import stack_file

    if not stack_file(args.stack).exists():
        print(f"error: no stack file {stack_file(args.stack)}", file=sys.stderr)
        return 2
    if args.list == bool(args.backup):
        print("error: name one backup to restore, or --list (not both)", file=sys.stderr)
        return 2
    options = None if args.list else rb.RestoreOptions(
        backup=args.backup, overwrite=args.overwrite, suffix=args.suffix,
        collections=tuple(c.strip() for c in args.collections.split(",") if c.strip()))
    try:
        text = render(args.stack, options)
    except (rb.RestoreError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    if options is not None:
        mode = ("drops existing collections of the same name first" if options.overwrite else
                f"restores as <name>{options.suffix}" if options.suffix else
                "stops before copying any data if a collection already exists (use --suffix or --overwrite)")
        print(f"restore Job for {options.backup}: {mode}; apply with kubectl apply -f", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
