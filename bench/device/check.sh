#!/usr/bin/env bash
# On the device machine (see prepare.sh): install stemlime from this tree without the network,
# run the CUDA tests, then measure (check.py). Everything printed also lands in $OUT.
set -uo pipefail
export PYTHONUNBUFFERED=1
out=${OUT:-/tmp/device-out}
mkdir -p "$out"
site=/tmp/stemlime-site
rm -rf "$site"  # pip --target keeps what a folder already holds: a rerun (or rehearsal) would test an older tree
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" .device/wheels/*.whl || exit 1
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --target "$site" \
    . plugins/musicnn_tagger plugins/temporal_seg plugins/spleeter_sep plugins/cerberus_sep plugins/demucs_sep plugins/midi_render || exit 1
export PYTHONPATH="$site" STEMLIME_HOME="$PWD/.device/models" STEMLIME_CACHE_DIR=/tmp/stemlime-stems
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA device')" | tee -a "$out/gpu.txt"
# FluidSynth (the Cerberus recipe renders with it): the carried libraries that this machine lacks, linked into
# one folder that the dynamic linker searches (the machine's own versions of the others stay in use)
if [ -f .device/fluidsynth.tar.gz ] && ! python3 -c "import fluidsynth" 2>/dev/null; then
    carried=/tmp/stemlime-fluidsynth-carried extra=/tmp/stemlime-fluidsynth
    rm -rf "$carried" "$extra" && mkdir -p "$carried" "$extra" && tar -xzf .device/fluidsynth.tar.gz -C "$carried"
    have=$(ldconfig -p | awk '{print $1}')
    for library in "$carried"/*; do
        name=$(basename "$library")
        grep -q -x -F "$name" <<<"$have" || ln -s "$library" "$extra/$name"
    done
    echo "$extra" > /etc/ld.so.conf.d/zz-stemlime-fluidsynth.conf && ldconfig
    echo "FluidSynth: $(ls "$extra" | wc -l) of the $(ls "$carried" | wc -l) carried libraries were missing here, linked into $extra" |
        tee "$out/fluidsynth.txt"
fi
[ "${CUDA_TESTS:-1}" = 0 ] || PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 python3 -m pytest -q -p no:cacheprovider -k "cuda or gemm or device" tests/test_musicnn_fast.py tests/test_musicnn_fidelity.py \
    tests/test_engine.py tests/test_cerberus.py 2>&1 | tee "$out/cuda-tests.txt"
python3 bench/device/check.py --device "${DEVICE:-cuda}" ${CHECK_ARGS:-} 2>&1 | tee "$out/check.txt"
