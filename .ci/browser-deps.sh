#!/usr/bin/env bash
# System packages the dashboard's browser test needs
# (healthcore-http/tests/dashboard_browser.rs): Debian's headless Chromium
# and its WebDriver, /usr/bin/chromium and /usr/bin/chromedriver (packages
# chromium and chromium-driver). Only apt-get: never a browser downloader.
# Idempotent; prints nothing when both are already there.
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if [ "${#missing[@]}" -gt 0 ]; then
    echo "== browser-deps: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
