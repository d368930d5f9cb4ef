#!/usr/bin/env bash
# Packs tfjs-mae, installs the tarball into a fresh TypeScript project next to
# tfjs-core, tfjs-layers and tfjs-backend-cpu, type-checks a strict file
# against the packed .d.ts and runs it as ESM and as CJS.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$root"
tarball=$(npm pack --silent --pack-destination "$work" | tail -n 1)
node "$root/test/consumer/readme-links.mjs" "$work/$tarball"
tfjs=$(node -p "require('@tensorflow/tfjs-core/package.json').version")
ts=$(node -p "require('typescript/package.json').version")
cd "$work"
cat > package.json <<JSON
{ "name": "consumer", "private": true, "version": "0.0.0" }
JSON
npm install --silent --no-audit --no-fund --prefer-offline "./$tarball" \
  "@tensorflow/tfjs-core@$tfjs" "@tensorflow/tfjs-layers@$tfjs" "@tensorflow/tfjs-backend-cpu@$tfjs" \
  "typescript@$ts" "@types/node@20"
# Our declarations must not reach into other packages' dist/ folders (those
# paths do not resolve under moduleResolution nodenext).
if grep -n "from '@tensorflow/[^']*/dist" node_modules/tfjs-mae/dist/*.d.ts; then
  echo "tfjs-mae's .d.ts imports a deep tfjs path"; exit 1
fi
cp "$root/test/consumer/consumer.ts" consumer.mts
cp "$root/test/consumer/consumer.ts" consumer.cts
common="--strict --noEmit false --skipLibCheck true --types node --target es2020 --module nodenext --moduleResolution nodenext --outDir out"
npx tsc $common consumer.mts
npx tsc $common consumer.cts
esm=$(node out/consumer.mjs | grep '^consumer ok'); echo "ESM: $esm"
cjs=$(node out/consumer.cjs | grep '^consumer ok'); echo "CJS: $cjs"
# The same seeded model and data must give the same loss through both builds.
[ "$esm" = "$cjs" ] || { echo "ESM and CJS builds disagree"; exit 1; }
echo "CLI:"; npx --no-install tfjs-mae inspect "$root/test/fixtures/mae_tiny.pth" | head -n 2
