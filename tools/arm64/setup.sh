#!/usr/bin/env bash
# An emulated ARM64 Python with edgekit's light install, for the ARM test tier (make test-arm).
#
#   tools/arm64/setup.sh [DIR]          (default .arm64 in the repository; git-ignored)
#   DIR/python script.py ...            runs an aarch64 CPython 3.11 under qemu user-mode emulation
#   QEMU_CPU=cortex-a72 DIR/python ...  picks the emulated core (default neoverse-n1)
#
# Needs no root, no binfmt_misc, no chroot: qemu-user-static and an arm64 Python come from Debian's archive
# (apt-get download into a private apt state, dpkg -x into DIR), the wheels from PyPI, pinned in
# requirements.txt beside this script. A second run with the same script and pins does nothing.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=$(realpath -m "${1:-$HERE/../../.arm64}")
STAMP=$(cat "$HERE/setup.sh" "$HERE/requirements.txt" | sha256sum | cut -c1-16)
if [ -x "$DIR/python" ] && [ "$(cat "$DIR/.stamp" 2>/dev/null)" = "$STAMP" ]; then exit 0; fi
echo "setting up an emulated ARM64 Python in $DIR (once; cached)"
rm -rf "$DIR.partial"; mkdir -p "$DIR.partial"; W="$DIR.partial"

# apt-get with its own state under W, for one architecture; the host's apt setup is only read.
apt_for() {
  local arch=$1; shift
  mkdir -p "$W/apt-$arch/lists/partial" "$W/apt-$arch/cache/archives/partial"; : > "$W/apt-$arch/status"
  apt-get -o APT::Architecture="$arch" -o APT::Architectures::="$arch" -o pkgCacheGen::Essential=none \
    -o Dir::State::Lists="$W/apt-$arch/lists" -o Dir::State::status="$W/apt-$arch/status" \
    -o Dir::Cache="$W/apt-$arch/cache" -o Debug::NoLocking=1 -o APT::Sandbox::User=root -qq "$@"
}
fetch_debs() {  # arch destination package... : the packages and everything they pull in, downloaded
  local arch=$1 dest=$2; shift 2
  mkdir -p "$dest"
  local names; names=$(apt_for "$arch" -s install --no-install-recommends "$@" | awk '/^Inst /{print $2}')
  (cd "$dest" && apt_for "$arch" download $names)
}

# 1. qemu-aarch64-static: the host's if it has one, else Debian's package unpacked.
if command -v qemu-aarch64-static >/dev/null; then
  QEMU=$(command -v qemu-aarch64-static)
else
  apt_for amd64 update
  (cd "$W" && apt_for amd64 download qemu-user-static)
  dpkg -x "$W"/qemu-user-static_*.deb "$W/qemu"
  QEMU="$DIR/qemu/usr/bin/qemu-aarch64-static"
fi

# 2. An arm64 CPython from Debian (the same release as the host), unpacked into a root file system.
apt_for arm64 update
fetch_debs arm64 "$W/debs" python3-minimal libpython3-stdlib libstdc++6
for deb in "$W"/debs/*.deb; do dpkg -x "$deb" "$W/rootfs"; done
PYTHON=$(readlink "$W/rootfs/usr/bin/python3")
PYVER=${PYTHON#python}
GLIBC=$(ls "$W"/debs/libc6_*.deb | sed -E 's/.*libc6_2\.([0-9]+).*/\1/')

# 3. The pinned aarch64 wheels, installed into a plain directory on the guest's PYTHONPATH.
PLATFORMS=(--platform manylinux2014_aarch64)
for minor in $(seq 17 "$GLIBC"); do PLATFORMS+=(--platform "manylinux_2_${minor}_aarch64"); done
PIP=(--only-binary=:all: --no-deps "${PLATFORMS[@]}" --implementation cp --python-version "$PYVER")
quiet_pip() { python3 -m pip -q --disable-pip-version-check "$@" 2>&1 \
  | { grep -v "is ignored: it is neither a file nor a directory\|Running pip as the .root. user" || true; }; }
quiet_pip download "${PIP[@]}" -d "$W/wheels" -r "$HERE/requirements.txt"
quiet_pip install --no-index --no-deps --no-compile --target "$W/site" "${PIP[@]}" "$W"/wheels/*.whl

# 4. The launcher. ONNX Runtime reads /proc/cpuinfo to pick kernels and crashes on the host's x86 one; qemu's
#    -L redirects /proc/cpuinfo and /sys into the root file system, so the launcher writes an ARM cpuinfo there
#    whose Features line is what the emulated core really has (read from its HWCAP), and the core's MIDR.
cp "$HERE/hwcap.py" "$W/hwcap.py"
cat > "$W/python" <<LAUNCHER
#!/usr/bin/env bash
# Runs the emulated aarch64 Python; QEMU_CPU picks the core (default neoverse-n1). Made by tools/arm64/setup.sh.
D=\$(cd "\$(dirname "\$0")" && pwd)
export QEMU_CPU=\${QEMU_CPU:-neoverse-n1}
case "\$QEMU_CPU" in max|max,*) case "\$QEMU_CPU" in *sme=off*) ;; *)
  echo "QEMU_CPU=\$QEMU_CPU: qemu's max core runs ONNX Runtime's SME int8 kernels wrongly; add sme=off" >&2; exit 2;; esac;; esac
RUN=(env -u LD_LIBRARY_PATH -u LD_PRELOAD PYTHONNOUSERSITE=1 PYTHONPATH="\$D/site\${EDGEKIT_SOURCE:+:\$EDGEKIT_SOURCE}" \\
     "$QEMU" -L "\$D/rootfs" "\$D/rootfs/usr/bin/$PYTHON")
# One cpuinfo serves every guest: a guest holds a shared lock while it runs, and rewriting the file for another
# core takes it exclusively, so it waits for the other core's guests to finish rather than change their cpuinfo.
exec 9>>"\$D/.core.lock"
flock -s 9
if [ "\$(cat "\$D/rootfs/proc/.core" 2>/dev/null)" != "\$QEMU_CPU" ]; then flock -x 9; fi
if [ "\$(cat "\$D/rootfs/proc/.core" 2>/dev/null)" != "\$QEMU_CPU" ]; then
  case "\$QEMU_CPU" in cortex-a53*) MIDR=0x410fd034;; cortex-a72*) MIDR=0x410fd083;; cortex-a76*) MIDR=0x414fd0b1;;
                       *) MIDR=0x414fd0c1;; esac
  FEATURES=\$("\${RUN[@]}" -S "\$D/hwcap.py")
  mkdir -p "\$D/rootfs/proc"; : > "\$D/rootfs/proc/cpuinfo"
  for cpu in \$(seq 0 \$((\$(nproc) - 1))); do
    printf 'processor\t: %d\nBogoMIPS\t: 50.00\nFeatures\t: %s\nCPU implementer\t: 0x%02x\nCPU architecture: 8\nCPU variant\t: 0x%x\nCPU part\t: 0x%03x\nCPU revision\t: %d\n\n' \\
      "\$cpu" "\$FEATURES" \$((MIDR >> 24 & 255)) \$((MIDR >> 20 & 15)) \$((MIDR >> 4 & 4095)) \$((MIDR & 15)) >> "\$D/rootfs/proc/cpuinfo"
    mkdir -p "\$D/rootfs/sys/devices/system/cpu/cpu\$cpu/regs/identification"
    printf '0x%016x\n' "\$MIDR" > "\$D/rootfs/sys/devices/system/cpu/cpu\$cpu/regs/identification/midr_el1"
  done
  echo "\$QEMU_CPU" > "\$D/rootfs/proc/.core"
fi
flock -s 9  # back to shared (from exclusive, if this guest rewrote the file): held until the guest exits
exec "\${RUN[@]}" "\$@"
LAUNCHER
chmod +x "$W/python"
rm -rf "$W/debs" "$W"/apt-* "$W/wheels" "$W"/*.deb
rm -rf "$DIR"; mv "$W" "$DIR"
# The launcher names qemu by its path in DIR: now that DIR is in place, check the whole chain once.
"$DIR/python" -c "import platform, numpy, onnxruntime, openvino, tokenizers; print('emulated', platform.machine(), 'python', platform.python_version(), 'onnxruntime', onnxruntime.__version__, 'openvino', openvino.__version__)"
echo "$STAMP" > "$DIR/.stamp"
