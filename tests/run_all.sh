#!/usr/bin/env bash
# The book's test command: install, build the whole book from a clean cache with warnings as
# errors, build its PDF edition, then run pytest (unit tests, the browser tests over the built
# site, the checks of the PDF).
# Usage, from the repository root: bash tests/run_all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet -r requirements.txt
rm -rf _build
start=$(date +%s)
jupyter-book build . -W -n --keep-going
echo "book built from a clean cache in $(( $(date +%s) - start )) s"
# The PDF edition, from the same executed notebooks (jupyter-cache), next to the site that links it.
start=$(date +%s)
jupyter-book build . --builder pdflatex -W -n --keep-going
cp _build/latex/book.pdf _build/html/book.pdf
echo "PDF edition built in $(( $(date +%s) - start )) s: $(pdfinfo _build/latex/book.pdf | grep '^Pages')"
python -m pytest
