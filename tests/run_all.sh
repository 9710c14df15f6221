#!/usr/bin/env bash
# The book's test command: install, build the whole book from a clean cache with warnings as
# errors, then run pytest (unit tests and the browser tests over the built site).
# Usage, from the repository root: bash tests/run_all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet -r requirements.txt
rm -rf _build
start=$(date +%s)
jupyter-book build . -W -n --keep-going
echo "book built from a clean cache in $(( $(date +%s) - start )) s"
python -m pytest
