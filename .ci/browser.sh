#!/usr/bin/env bash
# CI: Debian's headless Chromium and its driver for the browser tests (tests/test_ui_browser.py),
# installed from Debian's packages when missing. selenium is given both paths, so nothing is downloaded.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
/usr/bin/chromium --version
