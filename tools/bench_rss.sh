#!/usr/bin/env bash
# Peak host memory against clip length: runs the main job on the demo clip and on a clip ten
# times longer (the demo looped, with its track repeated) and compares the peak RSS of the two
# runs from their reports. Bounded streaming means the ratio should stay near 1.
# Usage: bash tools/bench_rss.sh [--release]
set -euo pipefail
cd "$(dirname "$0")/.."
profile_flag=${1:-}
cargo build -q ${profile_flag} --bin vanelia
bin_dir=$( [ "$profile_flag" = "--release" ] && echo release || echo debug )
bin="${CARGO_TARGET_DIR:-target}/$bin_dir/vanelia"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export XDG_RUNTIME_DIR="$work/xdg"; mkdir -m 700 "$XDG_RUNTIME_DIR"

ffmpeg -loglevel error -stream_loop 9 -i assets/demo.mp4 -c copy "$work/long.mp4"
python3 - "$work/long.poses.json" <<'PY'
import json, sys
track = json.load(open("assets/demo.poses.json"))
frames = track["frames"]
track["frames"] = [dict(f, frame=i) for i, f in enumerate(frames * 10)]
json.dump(track, open(sys.argv[1], "w"))
PY

run() { # input poses output
  "$bin" --quiet --input "$1" --model assets/product.glb --poses "$2" --output "$3" --refine classic
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(r['frames_total'], r['peak_rss_bytes'])" "${3%.mp4}.report.json"
}
read -r short_frames short_rss < <(run assets/demo.mp4 assets/demo.poses.json "$work/short.mp4")
read -r long_frames long_rss < <(run "$work/long.mp4" "$work/long.poses.json" "$work/long_out.mp4")
python3 - "$short_frames" "$short_rss" "$long_frames" "$long_rss" <<'PY'
import sys
sf, sr, lf, lr = map(int, sys.argv[1:])
print(f"short: {sf} frames, peak RSS {sr / 2**20:.1f} MiB")
print(f"long:  {lf} frames, peak RSS {lr / 2**20:.1f} MiB")
print(f"ratio: {lr / sr:.3f} (goal <= 1.1)")
PY
