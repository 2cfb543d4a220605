#!/usr/bin/env bash
# One-time set-up on a fresh clone: installs dependencies, builds, and
# prepares logs/ and .env. Then `npx backup` starts the wizard.
set -euo pipefail
cd "$(dirname "$0")"

need_node_major=20
if ! command -v node >/dev/null 2>&1; then
  echo "setup: Node.js >= ${need_node_major} is required (https://nodejs.org or your package manager)." >&2
  exit 1
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt "$need_node_major" ]; then
  echo "setup: Node.js $(node --version) is too old; >= ${need_node_major} is required." >&2
  exit 1
fi

npm ci --no-audit --no-fund
npm run build

mkdir -p logs config
if [ ! -f .env ] && [ -f .env.example ]; then
  cp .env.example .env
  chmod 600 .env
  echo "setup: created .env from .env.example (edit it for S3 credentials, or use ~/.aws)."
fi

# Optional system tools: say what is missing and what it costs.
for tool in unzip bzip2; do
  command -v "$tool" >/dev/null 2>&1 || echo "setup: note: '$tool' is not installed (apt-get install $tool) - needed to check and restore some archives by hand."
done
if ! command -v lbzip2 >/dev/null 2>&1; then
  if command -v bzip2 >/dev/null 2>&1; then
    echo "setup: note: lbzip2 is not installed; tar.bz2 uses the single-core bzip2 (apt-get install lbzip2 for all cores)."
  else
    echo "setup: note: neither lbzip2 nor bzip2 is installed; tar.bz2 backups fall back to zip (apt-get install lbzip2)."
  fi
fi

echo
echo "Ready. Run the wizard:            npx backup"
echo "Or one backup without prompts:    npx backup run --source ./data --dest ./backups"
echo "Run the tests:                    npm test"
