#!/usr/bin/env bash
# The whole test suite, as a newcomer and CI run it: installs and starts
# what the tests need, then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
cargo test --workspace --locked "$@"
