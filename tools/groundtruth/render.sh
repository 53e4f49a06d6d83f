#!/usr/bin/env bash
# Regenerates the ground-truth benchmark scenes (see tools/groundtruth/README.md):
#
#   tools/groundtruth/render.sh [--frames N] [--size WxH] [--samples N] [--seed N]
#                               [--out DIR] [--scratch DIR] [--max-bytes N] [--pack-only]
#                               [SCENE ... | all]
#
# For each scene: Blender (Cycles, CPU) writes product.glb, poses.json and scene.json into
# OUT/<scene>/ and renders plate/truth/matte PNGs into SCRATCH/<scene>/; FFmpeg then packs
# plate.mp4 and truth.mp4 (x264 veryslow, yuv444p, BT.601 limited range like FFmpeg's default
# RGB conversion, tagged so; CRF 6, raised by 2 until both videos fit --max-bytes, default
# 1000000, and recorded in scene.json) and matte/NNNNNN.png (8-bit grayscale = the matte's
# alpha). --pack-only repacks existing scratch PNGs without rendering.
# Needs: blender (3.4, Debian) with python3-numpy, python3-pil, ffmpeg with libx264.
# Renders run under `nice -n ${NICE:-10}`; progress goes to SCRATCH/render.log.
set -euo pipefail
cd "$(dirname "$0")/../.."

ALL=(sun_high sun_low overcast indoor_area coloured_light dark_floor bright_floor motion_blur
     long_shutter shallow_dof distorted_lens)
OUT=tests/fixtures/groundtruth
SCRATCH=${TMPDIR:-/tmp}/vanelia-groundtruth
MAX_BYTES=1000000
PACK_ONLY=0
GEN_ARGS=()
SCENES=()
while [ $# -gt 0 ]; do
  case "$1" in
    --frames|--size|--samples|--seed) GEN_ARGS+=("$1" "$2"); shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --scratch) SCRATCH=$2; shift 2 ;;
    --max-bytes) MAX_BYTES=$2; shift 2 ;;
    --pack-only) PACK_ONLY=1; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    all) SCENES+=("${ALL[@]}"); shift ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) SCENES+=("$1"); shift ;;
  esac
done
[ ${#SCENES[@]} -gt 0 ] || SCENES=("${ALL[@]}")
mkdir -p "$OUT" "$SCRATCH"
LOG=$SCRATCH/render.log

for s in "${SCENES[@]}"; do
  echo "== $s ($(date -u +%H:%M:%S))" | tee -a "$LOG"
  if [ "$PACK_ONLY" = 0 ]; then
    rm -rf "${SCRATCH:?}/$s"
    nice -n "${NICE:-10}" blender -b --factory-startup --python tools/groundtruth/gen.py -- \
      "$s" "$OUT" --scratch "$SCRATCH" "${GEN_ARGS[@]}" >>"$LOG" 2>&1 \
      || { echo "blender failed for $s, see $LOG" >&2; exit 1; }
    grep "^\[gen\] $s " "$LOG" | tail -n 3 || true
  fi
  # Lens distortion (a no-op for scenes without it): needs python3-numpy and python3-pil.
  python3 tools/groundtruth/distort.py "$OUT/$s/scene.json" "$SCRATCH/$s" | tee -a "$LOG"
  for crf in 6 8 10 12 14 16 18; do
    for p in plate truth; do
      nice -n "${NICE:-10}" ffmpeg -nostdin -y -loglevel error -framerate 24 \
        -i "$SCRATCH/$s/$p/%04d.png" -c:v libx264 -preset veryslow -crf "$crf" \
        -pix_fmt yuv444p -colorspace smpte170m -color_primaries bt709 \
        -color_trc iec61966-2-1 -color_range tv -movflags +faststart \
        "$OUT/$s/$p.mp4"
    done
    sizes=$(stat -c %s "$OUT/$s/plate.mp4" "$OUT/$s/truth.mp4" | sort -n | tail -n 1)
    [ "$sizes" -le "$MAX_BYTES" ] && break
  done
  python3 - "$OUT/$s/scene.json" "$crf" "$OUT/$s/plate.mp4" "$OUT/$s/truth.mp4" <<'PY'
import json, os, sys
path, crf, plate, truth = sys.argv[1:5]
doc = json.load(open(path))
doc["video"] = dict(
    codec="libx264", preset="veryslow", crf=int(crf), pix_fmt="yuv444p",
    rgb_to_yuv="FFmpeg default: BT.601 matrix, limited range (tagged smpte170m, tv)",
    plate_bytes=os.path.getsize(plate), truth_bytes=os.path.getsize(truth),
    note="CRF 6, raised by 2 until both videos fit the size budget (render.sh --max-bytes)")
with open(path, "w") as fh:
    json.dump(doc, fh, indent=1)
PY
  rm -rf "${OUT:?}/$s/matte"
  mkdir -p "$OUT/$s/matte"
  ffmpeg -nostdin -y -loglevel error -i "$SCRATCH/$s/matte/%04d.png" -vf alphaextract \
    -pix_fmt gray -start_number 0 "$OUT/$s/matte/%06d.png"
  du -sh "$OUT/$s" | tee -a "$LOG"
done
