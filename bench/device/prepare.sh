#!/usr/bin/env bash
# Here (no GPU needed): gather what the device machine lacks into .device/ (git-ignored), so that
# one call of the device tool runs every GPU check:
#   run(command="bash bench/device/check.sh", carry=[".device"], timeout_s=540)
# and the Cerberus GPU recipe's build, a call of its own (check.py --sections recipe):
#   run(command="CUDA_TESTS=0 CHECK_ARGS='--sections recipe' bash bench/device/check.sh", carry=[".device"], timeout_s=420)
# The machine has Python 3.12 with torch, numpy, scipy, scikit-learn, pluggy, attrs, jinja2,
# tqdm, threadpoolctl, safetensors and pytest, and no network: the other packages stemlime
# imports travel as wheels, the MSD_musicnn model files as a STEMLIME_HOME folder, and FluidSynth
# (for the recipe's rendering) as the shared libraries of Debian's libfluidsynth3 and of the
# packages it needs, unpacked here (check.sh links in those the machine lacks).
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${PYTHON:-.venv/bin/python}
rm -rf .device && mkdir -p .device/wheels .device/models/musicnn
"$python" -m pip download --quiet --no-deps --only-binary=:all: --python-version "${DEVICE_PYTHON:-3.12}" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .device/wheels soundfile==0.13.1 cffi==1.17.1 pycparser==2.22 soxr==0.5.0.post1 pooch==1.8.2 platformdirs==4.3.8
"$python" -m pip download --quiet --no-deps --only-binary=:all: --python-version "${DEVICE_PYTHON:-3.12}" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .device/wheels PyYAML==6.0.2
# pure-Python packages of the Demucs and Cerberus rows (py3 wheels, built here when PyPI has only a source archive)
"$python" -m pip wheel --quiet --no-deps -w .device/wheels demucs==4.1.0 einops==0.8.2 julius==0.2.8 mido==1.3.3 \
    pretty_midi==0.2.11.post0 mir_eval==0.8.2 decorator==5.3.1
"$python" -m stemlime models fetch musicnn/MSD_musicnn >/dev/null
cp -r "$("$python" -m stemlime models path musicnn/MSD_musicnn)" .device/models/musicnn/
# the Cerberus rows' training data: 6 rendered pieces of 8 s at 16 kHz (FluidSynth is here, not there)
"$python" -m stemlime render-dataset --count 6 --duration 8 --sample-rate 16000 --instruments piano,guitar,bass,drums \
    --seed 100 --no-progress --out .device/cerberus-data >/dev/null
# FluidSynth's libraries: Debian's libfluidsynth3 and the libraries it loads, as installed here, each under the
# name the dynamic linker looks for (packed: the call carries 64 MiB); not the C and C++ runtimes, which the
# machine has in newer versions
library=$(ldconfig -p | awk '/libfluidsynth\.so\.3 / {print $NF; exit}')
[ -n "$library" ] || { echo "prepare.sh: libfluidsynth3 is not installed here (make system-deps)" >&2; exit 1; }
rm -rf /tmp/stemlime-fluidsynth-pack && mkdir -p /tmp/stemlime-fluidsynth-pack
cp -L "$library" /tmp/stemlime-fluidsynth-pack/libfluidsynth.so.3
ldd "$library" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | while read -r name path; do
    case $name in libc.so.* | libm.so.* | libpthread.so.* | libdl.so.* | librt.so.* | libresolv.so.* | libgcc_s.so.* | libstdc++.so.*) continue ;; esac
    cp -L "$path" "/tmp/stemlime-fluidsynth-pack/$name"
done
tar -czf .device/fluidsynth.tar.gz -C /tmp/stemlime-fluidsynth-pack . && rm -rf /tmp/stemlime-fluidsynth-pack
du -sh .device
