#!/usr/bin/env bash
# Installs the Debian packages vanelia needs to build, test and run on a CPU machine:
# FFmpeg development libraries (video I/O), clang (bindgen for ffmpeg-sys), the ffmpeg tool
# (test fixtures and the asset generator) and Mesa's Vulkan/GL drivers (wgpu on lavapipe).
# Needs root. Skips apt entirely when everything is already installed.
set -euo pipefail

packages=(
  pkg-config clang libclang-dev
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev
  libavfilter-dev libavdevice-dev ffmpeg
  mesa-vulkan-drivers libvulkan1 libegl1 libegl-mesa0 libgl1-mesa-dri
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
  echo "error: cargo not found; install Rust 1.88 or newer (https://rustup.rs), then run this again" >&2
  exit 1
fi
