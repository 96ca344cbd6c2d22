#!/usr/bin/env python3
"""Each Lambda function's size as it is deployed, and what it links.

For every binary in functions/src/bin (or those named), from target/release (built with symbols:
`cargo build --release -p cloudapps-functions --config 'profile.release.strip=false'`):

- its size stripped (what `provided.al2023` runs) and zipped as `bootstrap` (what is uploaded);
- whether it contains the SQS SDK, the Lambda SDK, SQLite and the marketplace's operations,
  by the symbols of each (`nm`), as `tests/linking.rs` checks on every test run.

Usage: python3 scripts/function_sizes.py [--markdown] [NAME ...]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# What a binary may or may not contain, by a prefix of its demangled symbols.
PARTS = {
    "sqs": ("aws_sdk_sqs::",),
    "lambda": ("aws_sdk_lambda::",),
    "sqlite": ("rusqlite::", "sqlite3_"),
    "market": ("cloudapps::marketplace::service::Marketplace::install",),
}


def contains(binary):
    out = subprocess.run(["nm", "-C", binary], capture_output=True, text=True, check=True).stdout
    symbols = [line.split(" ", 2)[-1] for line in out.splitlines()]
    # A symbol counts where it is defined, not where a generic of it is dropped.
    symbols = [s for s in symbols if not s.startswith("core::ptr::drop_in_place")]
    return {part: any(s.startswith(p) or f"<{p}" in s for s in symbols for p in prefixes)
            for part, prefixes in PARTS.items()}


def measure(name, work):
    built = os.path.join(ROOT, "target", "release", name)
    if not os.path.exists(built):
        sys.exit(f"{built} is not built; see this script's docstring")
    links = contains(built)
    stripped = os.path.join(work, "bootstrap")
    shutil.copy(built, stripped)
    subprocess.run(["strip", stripped], check=True)
    archive = os.path.join(work, f"{name}.zip")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.write(stripped, "bootstrap")
    return os.path.getsize(stripped), os.path.getsize(archive), links


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("names", nargs="*")
    args = parser.parse_args()
    names = args.names or sorted(
        f[:-3] for f in os.listdir(os.path.join(ROOT, "functions", "src", "bin")) if f.endswith(".rs"))
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name in names:
            rows.append((name, *measure(name, work)))
    mb = lambda n: f"{n / 1e6:.2f}"
    yes = lambda b: "yes" if b else "-"
    if args.markdown:
        print("| function | stripped MB | zip MB | SQS | Lambda SDK | SQLite | marketplace |")
        print("|---|---|---|---|---|---|---|")
        for name, size, zipped, links in rows:
            print(f"| {name} | {mb(size)} | {mb(zipped)} | {yes(links['sqs'])} | "
                  f"{yes(links['lambda'])} | {yes(links['sqlite'])} | {yes(links['market'])} |")
    else:
        print(f"{'function':36} {'stripped':>9} {'zip':>7}  sqs lambda sqlite market")
        for name, size, zipped, links in rows:
            print(f"{name:36} {mb(size):>9} {mb(zipped):>7}  {yes(links['sqs']):>3} "
                  f"{yes(links['lambda']):>6} {yes(links['sqlite']):>6} {yes(links['market']):>6}")


if __name__ == "__main__":
    main()
