#!/usr/bin/env bash
# Copies uPlot's dist files and licence from node_modules (npm's copy of the version pinned in
# package-lock.json) into vendor/, which is committed and served as /console/vendor/...
#
#   cd console && npm ci && bash update-vendor.sh      (or: npm run update-vendor)
#
# To move to a newer uPlot: `npm install uplot@<version>` here, then run this script and commit
# package.json, package-lock.json and vendor/.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$here/node_modules/uplot"
if [[ ! -f "$src/dist/uPlot.iife.min.js" ]]; then
  echo "update-vendor: $src is missing; run 'npm ci' in console/ first" >&2
  exit 1
fi
mkdir -p "$here/vendor"
cp "$src/dist/uPlot.iife.min.js" "$src/dist/uPlot.min.css" "$here/vendor/"
cp "$src/LICENSE" "$here/vendor/LICENSE"
version="$(node -p "require('$src/package.json').version" 2>/dev/null || echo unknown)"
echo "update-vendor: uPlot $version copied into $here/vendor"
