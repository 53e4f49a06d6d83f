#!/usr/bin/env bash
# Builds `vanelia --features cuda` (or `cudnn`) on a machine WITHOUT a GPU and without the
# CUDA toolkit, following the project spec platform.md §7 (/work/shared/specs/platform.md) ("CUDA builds without a GPU").
#
#   tools/cuda-build.sh                    # cargo build --release --features cuda
#   FEATURES=cudnn tools/cuda-build.sh     # the same with cuDNN convolutions
#   eval "$(tools/cuda-build.sh --print-env)"   # just the environment, e.g. for cargo clippy
#
# Every step is idempotent: wheels, unpacking, symlinks and stubs are redone only when missing
# or out of date, so a second run costs only cargo's own no-op check.
#
# Settings (environment):
#   VANELIA_CUDA_DIR   where the toolkit pieces live   (default ~/.cache/vanelia/cuda)
#   VANELIA_CUDA_TARGET_DIR  the target dir for CUDA builds only (default
#                      ~/.cache/vanelia/target-cuda); a CARGO_TARGET_DIR set for normal builds is
#                      not used: §6, never flip candle's feature set inside the shared target dir.
#   CUDA_COMPUTE_CAP   PTX target                       (default 90 = H100/H200)
#   FEATURES           cargo features                   (default cuda)
#   NICE               prefix for cargo                 (default "nice -n 19")
# The output binary is $CARGO_TARGET_DIR/release/vanelia. At run time on the GPU host it needs
# the driver's libcuda.so.1 and the pip cu13 wheels' libcublas/libcublasLt/libcurand/libcudart
# (and libcudnn.so.9 with `cudnn`) on LD_LIBRARY_PATH (§7 "Runtime libraries").
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
ROOT=${VANELIA_CUDA_DIR:-$HOME/.cache/vanelia/cuda}
export CARGO_TARGET_DIR=${VANELIA_CUDA_TARGET_DIR:-$HOME/.cache/vanelia/target-cuda}
FEATURES=${FEATURES:-cuda}
NICE=${NICE:-nice -n 19}
WHEELS=$ROOT/cudawhl          # downloaded .whl files
UNPACKED=$ROOT/x              # all wheels unzipped on top of each other
C=$UNPACKED/nvidia/cu13       # the "toolkit": bin/ nvvm/ include/ lib/ (lib/stubs/ is ours)

log() { echo "cuda-build: $*" >&2; }

# §7 step 1. Debian 12 has no CUDA toolkit, so nvcc (and nvvm/cicc, the CRT and CCCL headers
# it needs to compile candle-kernels) come from PyPI wheels. Pinned to CUDA 13.0 because the
# GPU host's driver 580 is CUDA 13.0: PTX from a newer nvcc would not JIT there.
# nvrtc, curand and cudart are the real shared libraries (small enough); cuBLAS (~0.5 GB of
# wheels) and the driver are replaced by link stubs in step 3.
PINS=(nvidia-cuda-nvcc==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-runtime==13.0.96
      nvidia-cuda-crt==13.0.88 nvidia-cuda-cccl==13.0.85 nvidia-cuda-nvrtc==13.0.88
      nvidia-curand==10.4.0.35)

fetch_wheels() {
    mkdir -p "$WHEELS"
    local missing=0 pin name version
    for pin in "${PINS[@]}"; do
        name=${pin%%==*}; version=${pin##*==}
        compgen -G "$WHEELS/${name//-/_}-$version-*.whl" >/dev/null || missing=1
    done
    if [ "$missing" = 0 ]; then return; fi
    log "downloading CUDA 13.0 wheels into $WHEELS"
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.11 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64 \
        -d "$WHEELS" "${PINS[@]}"
}

unpack_wheels() {
    local stamp=$UNPACKED/.unpacked w
    # Re-unpack when any wheel is newer than the last unpack.
    if [ -f "$stamp" ] && [ -z "$(find "$WHEELS" -name '*.whl' -newer "$stamp")" ]; then return; fi
    log "unpacking wheels into $UNPACKED"
    mkdir -p "$UNPACKED"
    for w in "$WHEELS"/*.whl; do unzip -q -o "$w" -d "$UNPACKED"; done
    touch "$stamp"
}

# §7 step 2. The wheels ship only versioned sonames (libcudart.so.13 ...); `-lcudart` needs the
# unversioned name. The binary still records the soname (NEEDED libcudart.so.13).
# lib/stubs/ (step 3) must exist BEFORE cudarc's build script first runs: it emits
# `rustc-link-search` only for directories that exist, and reruns only when CUDA_HOME changes.
symlink_libs() {
    (cd "$C/lib" && ln -sf libcudart.so.13 libcudart.so && ln -sf libnvrtc.so.13 libnvrtc.so \
        && ln -sf libcurand.so.10 libcurand.so)
    mkdir -p "$C/lib/stubs"
}

# The environment of §7 step 4. CUDA_COMPUTE_CAP is mandatory without a GPU (cudaforge would
# otherwise ask nvidia-smi); cudarc and cudaforge find nvcc on PATH and the libraries through
# CUDA_HOME (+ lib, lib/stubs, lib64). CUDARC_CUDA_VERSION spares cudarc running nvcc.
cuda_env() {
    export CUDA_HOME=$C
    export PATH=$C/bin:$PATH
    export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
    export CUDARC_CUDA_VERSION=${CUDARC_CUDA_VERSION:-13000}
}

# §7 step 3. cudarc links with `-lcuda -lcublas -lcublasLt` (link-time dynamic linking, not
# dlopen; candle cannot switch it), and `-lcudnn` with `cudnn`. Without a GPU there is no
# libcuda, and cuBLAS/cuDNN are not downloaded, so we give the linker stub libraries that
# define every symbol cudarc uses and carry the real sonames; on the GPU host the dynamic
# loader then binds the real libraries. The symbol list is exactly what the cudarc rlib leaves
# undefined (`nm -u`), minus what the real wheel libraries (nvrtc, curand, cudart) define.
build_stubs() {
    local rlib=$1
    [ -f "$rlib" ] || { log "no cudarc rlib: '$rlib'"; exit 1; }
    local work=$ROOT/stubs-src stubs=$C/lib/stubs
    mkdir -p "$work" "$stubs"
    nm -u "$rlib" 2>/dev/null | awk '$1 == "U" {print $2}' \
        | grep -E '^(cu|nvrtc|curand)' | sort -u >"$work/undefined.txt"
    nm -D --defined-only "$C"/lib/lib{nvrtc,curand,cudart}.so 2>/dev/null \
        | awk 'NF == 3 {print $3}' | sed 's/@.*//' | sort -u >"$work/real.txt"
    comm -23 "$work/undefined.txt" "$work/real.txt" >"$work/stub.txt"
    if cmp -s "$work/stub.txt" "$work/stub.built" && [ -f "$stubs/libcuda.so" ]; then return; fi
    if grep -qE '^(nvrtc|curand)' "$work/stub.txt"; then
        log "symbols the real nvrtc/curand do not define:"; grep -E '^(nvrtc|curand)' "$work/stub.txt" >&2
        exit 1
    fi
    log "building link stubs in $stubs from $(wc -l <"$work/stub.txt") symbols of $(basename "$rlib")"
    # lib name : soname : which symbols (by prefix; libcuda takes the rest: cuInit, cuMemAlloc...)
    local spec lib soname pattern
    for spec in "cublasLt:libcublasLt.so.13:^cublasLt" "cublas:libcublas.so.13:^cublas([^L]|$)" \
                "cudnn:libcudnn.so.9:^cudnn" "cuda:libcuda.so.1:"; do
        IFS=: read -r lib soname pattern <<<"$spec"
        if [ -n "$pattern" ]; then
            grep -E "$pattern" "$work/stub.txt" >"$work/$lib.syms" || true
        else
            grep -vE '^(cublas|cudnn)' "$work/stub.txt" >"$work/$lib.syms" || true
        fi
        sed 's/.*/void &(void) {}/' "$work/$lib.syms" >"$work/$lib.c"
        gcc -shared -fPIC -Wl,-soname,"$soname" -o "$stubs/lib$lib.so" "$work/$lib.c"
    done
    cp "$work/stub.txt" "$work/stub.built"
}

fetch_wheels
unpack_wheels
symlink_libs
cuda_env

if [ "${1:-}" = "--print-env" ]; then
    printf 'export CUDA_HOME=%q PATH=%q CUDA_COMPUTE_CAP=%q CUDARC_CUDA_VERSION=%q CARGO_TARGET_DIR=%q\n' \
        "$CUDA_HOME" "$PATH" "$CUDA_COMPUTE_CAP" "$CUDARC_CUDA_VERSION" "$CARGO_TARGET_DIR"
    exit 0
fi

# §7 step 5: the toolkit must be 13.0 (see step 1).
nvcc --version | grep -q 'release 13.0' || { log "nvcc is not CUDA 13.0"; nvcc --version >&2; exit 1; }

cd "$REPO"
# First pass: the library only. It compiles every dependency (cudarc, and candle-kernels'
# PTX: ~6 min of the ~8 in §6) but links no executable, so it needs no CUDA libraries and
# leaves the cudarc rlib that the stubs are made from.
log "cargo build --release --features $FEATURES --lib   (target $CARGO_TARGET_DIR)"
# The JSON messages name the exact cudarc rlib of this feature set (the target dir may also
# hold one from another feature set, e.g. cudnn's).
mkdir -p "$CARGO_TARGET_DIR"
messages=$CARGO_TARGET_DIR/cuda-build-lib.json
$NICE cargo build --release --features "$FEATURES" --lib --message-format=json-render-diagnostics >"$messages"
rlib=$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "cudarc":
        print(next(f for f in m["filenames"] if f.endswith(".rlib")))
' "$messages")
build_stubs "$rlib"
# Second pass: everything else, linking the binary against the real libs and the stubs.
log "cargo build --release --features $FEATURES"
$NICE cargo build --release --features "$FEATURES"
log "built $CARGO_TARGET_DIR/release/vanelia"
readelf -d "$CARGO_TARGET_DIR/release/vanelia" | grep NEEDED >&2
