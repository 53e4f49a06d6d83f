#!/usr/bin/env bash
# The project's test command (README, second command; CI runs exactly this): formatting,
# lints, the whole test suite and a compile of the benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."

# Mesa wants a private runtime directory; an unset one only prints noise.
if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -d "${XDG_RUNTIME_DIR}" ]; then
  XDG_RUNTIME_DIR=$(mktemp -d)
  chmod 700 "$XDG_RUNTIME_DIR"
  export XDG_RUNTIME_DIR
fi

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
# Benchmarks are compiled in the dev profile (deps at opt-level 3) so CI builds the
# dependency graph once; `cargo bench` itself uses the release profile.
cargo build --benches --locked
