#!/usr/bin/env bash
# Installs the Unitree bridge's SDK into a virtual environment: CycloneDDS 0.10.2 (C library from Debian's
# cyclonedds-dev, Python binding built against it) and unitree-sdk2 1.0.1. Usage:
#   ros_ws/src/yan_dog_ros/install_unitree_sdk.sh .venv
# Why each step (verified on Debian bookworm, Python 3.11):
# - unitree-sdk2 pins cyclonedds==0.10.2, which has no wheel for Python 3.11 and builds from source against
#   the C library of the same version; Debian ships it as cyclonedds-dev 0.10.2 (apt-get, as root).
# - cyclonedds' setup looks for $CYCLONEDDS_HOME/lib/libddsc.so, include/ and bin/; Debian splits them over
#   /usr/lib/<multiarch>, /usr/include and /usr/bin, so CYCLONEDDS_HOME is a folder of links to them.
# - unitree-sdk2 is installed with --no-deps: it pins opencv-python, which would overwrite the project's
#   opencv-python-headless (same cv2 module); its other needs (numpy, cyclonedds) are already there.
# Exits non-zero with one "error:" line when it cannot install.
set -euo pipefail

VENV=${1:?usage: install_unitree_sdk.sh VENV}
PY="$VENV/bin/python"
CYCLONEDDS_VERSION=0.10.2
UNITREE_SDK_VERSION=1.0.1
fail() { echo "error: Unitree bridge SDK not installed: $*" >&2; exit 1; }

[ -x "$PY" ] || fail "no Python at $PY"

libddsc() { ls /usr/lib/*/libddsc.so /usr/lib/libddsc.so 2>/dev/null | head -n 1; }
c_version() { dpkg-query -W -f '${Version}' cyclonedds-dev 2>/dev/null || true; }

# 1. the C library (and idlc, which the binding's build looks for in bin/)
if [ -z "$(libddsc)" ] || [ ! -e /usr/include/dds/dds.h ] || ! command -v idlc >/dev/null; then
    command -v apt-get >/dev/null || fail "needs CycloneDDS $CYCLONEDDS_VERSION (C); no apt-get here"
    [ "$(id -u)" = 0 ] || fail "needs root to run: apt-get install -y cyclonedds-dev cyclonedds-tools"
    { apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
        install -y -qq --no-install-recommends cyclonedds-dev cyclonedds-tools; } >/dev/null \
        || fail "apt-get install cyclonedds-dev cyclonedds-tools failed"
fi
case "$(c_version)" in  # (empty: not from a Debian package; the binding's build then checks it)
    "" | "$CYCLONEDDS_VERSION"*) ;;
    *) fail "cyclonedds-dev is $(c_version); the Python binding needs $CYCLONEDDS_VERSION" ;;
esac

# 2. CYCLONEDDS_HOME: links to where Debian put the library, headers and tools
HOME_DIR="$(cd "$VENV" && pwd)/cyclonedds-home"
mkdir -p "$HOME_DIR"
ln -sfn "$(dirname "$(libddsc)")" "$HOME_DIR/lib"
ln -sfn /usr/include "$HOME_DIR/include"
ln -sfn /usr/bin "$HOME_DIR/bin"

# 3. the Python packages; the project's numpy / torch / opencv must come out unchanged
before=$("$PY" -m pip freeze | grep -i -E '^(numpy|torch|opencv)' || true)
CYCLONEDDS_HOME="$HOME_DIR" "$PY" -m pip install --quiet "cyclonedds==$CYCLONEDDS_VERSION" \
    || fail "building cyclonedds==$CYCLONEDDS_VERSION against $HOME_DIR failed"
"$PY" -m pip install --quiet --no-deps "unitree-sdk2==$UNITREE_SDK_VERSION" \
    || fail "pip install unitree-sdk2==$UNITREE_SDK_VERSION failed"
after=$("$PY" -m pip freeze | grep -i -E '^(numpy|torch|opencv)' || true)
[ "$before" = "$after" ] || fail "installing changed numpy/torch/opencv: '$before' -> '$after'"

# 4. it imports (through the project's own shim for the SDK's missing b2 package)
"$PY" -c "from robots.unitree_lowlevel import import_sdk; import_sdk()" \
    || fail "unitree_sdk2py does not import"
echo "Unitree bridge SDK installed: cyclonedds $CYCLONEDDS_VERSION, unitree-sdk2 $UNITREE_SDK_VERSION"
