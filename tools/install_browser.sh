#!/usr/bin/env bash
# Install Debian's Chromium for the web demo's browser test (tests/test_demo_web.py drives it
# with Playwright). Does nothing when /usr/bin/chromium exists. Needs root (or sudo) and apt.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
SUDO=()
[ "$(id -u)" -eq 0 ] || SUDO=(sudo)
"${SUDO[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -q chromium chromium-driver
echo "chromium installed: $(/usr/bin/chromium --version 2>/dev/null | tail -n 1)"
