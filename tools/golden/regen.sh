#!/usr/bin/env bash
# Regenerates the committed golden fixtures from the reference implementations, and checks
# them with the independent re-implementation of the spec. Never run in CI (PyPI's torch is a
# ~3 GB download). Usage: bash tools/golden/regen.sh [path to shared/golden]
set -euo pipefail
cd "$(dirname "$0")/../.."
golden_src=${1:-../shared/golden}
venv=${VANELIA_PYENV:-$HOME/.cache/vanelia/pyenv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r tools/golden/requirements.txt
  # mini-dust3r's declared deps pull gradio, rerun-sdk, trimesh, ...: install it without them.
  "$venv/bin/pip" install -q --no-deps mini-dust3r==0.1.2
fi
out=tests/fixtures/golden/sd15/small
mkdir -p "$(dirname "$out")"
"$venv/bin/python" "$golden_src/sd15/gen.py" --out "$out" --preset small --force
"$venv/bin/python" "$golden_src/sd15/check_spec.py" "$out"
echo "regenerated $out; other shapes: gen.py --preset alt --out DIR, then VANELIA_GOLDEN_SD15=DIR cargo test --release --test golden"
out=tests/fixtures/golden/dust3r/small
mkdir -p "$(dirname "$out")"
"$venv/bin/python" "$golden_src/dust3r/gen.py" --out "$out" --preset small --force
"$venv/bin/python" "$golden_src/dust3r/check_spec.py" "$out"
# an original-style .pth (state dict under "model" + argparse args) for the .pth loader
"$venv/bin/python" tools/golden/dust3r_pth.py "$out"
echo "regenerated $out; other shapes: gen.py --preset alt --out DIR, then VANELIA_GOLDEN_DUST3R=DIR cargo test --release --test golden"
