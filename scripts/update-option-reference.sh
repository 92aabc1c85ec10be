#!/usr/bin/env bash
# Replaces the option reference table in docs/user-guide.md with the option table's own output
# (`pgvault help-options --markdown`); OptionsCliTest.UserGuideOptionReferenceMatchesTheTable
# fails until this has been run after an option changed. Usage: scripts/update-option-reference.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
"$build/pgvault" help-options --markdown | python3 -c '
import sys
guide = "docs/user-guide.md"
table = sys.stdin.read().rstrip("\n")
text = open(guide).read()
start = text.index("\n|", text.index("### Option reference")) + 1
lines = text[start:].split("\n")
n = next(i for i, line in enumerate(lines) if not line.startswith("|"))
open(guide, "w").write(text[:start] + table + "\n" + "\n".join(lines[n:]))
'
