#!/usr/bin/env bash
# Checks proto/ for breaking changes against the main branch. buf cannot read
# .build/googleapis from git (it is fetched, not committed), so the main side
# is exported into a temp dir, given the same googleapis, and built to an image.
set -euo pipefail
buf=${1:-buf}
root=$(git rev-parse --show-toplevel)
ref=${BUF_BREAKING_AGAINST:-main}
if ! git -C "$root" rev-parse --verify -q "$ref" >/dev/null; then
  echo "buf breaking: no '$ref' branch here; nothing to compare against"
  exit 0
fi
if ! git -C "$root" cat-file -e "$ref:proto" 2>/dev/null; then
  echo "buf breaking: '$ref' has no proto/ yet"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git -C "$root" archive "$ref" proto buf.yaml | tar -x -C "$tmp"
mkdir -p "$tmp/.build"
cp -r "$root/.build/googleapis" "$tmp/.build/googleapis"
(cd "$tmp" && "$buf" build proto -o "$tmp/against.binpb")
cd "$root"
"$buf" breaking proto --against "$tmp/against.binpb"
echo "buf breaking: no breaking changes against $ref"
