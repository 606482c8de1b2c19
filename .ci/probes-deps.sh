#!/usr/bin/env bash
# System packages and accounts the healthcore-probes tests need
# (`cargo test -p healthcore-probes --all-features`):
#  - sshd and ssh-keygen (Debian's openssh-server / openssh-client): the ssh
#    probe's tests start their own sshd on a loopback port;
#  - redis-server: the redis probe's tests start their own servers beside
#    the machine's (127.0.0.1:6379);
#  - the login `hcprobe` (no password, not locked, /bin/sh): OpenSSH refuses
#    signal requests for root sessions, so the test that a timed-out remote
#    command is killed logs in as this user;
#  - /run/sshd, sshd's privilege separation directory.
# Idempotent; prints nothing when everything is already there.
set -euo pipefail

missing=()
command -v /usr/sbin/sshd >/dev/null 2>&1 || missing+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if [ "${#missing[@]}" -gt 0 ]; then
    echo "== probes-deps: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! getent passwd hcprobe >/dev/null; then
    echo "== probes-deps: creating user hcprobe"
    $SUDO useradd --system --shell /bin/sh --no-create-home --home-dir /nonexistent -p '*' hcprobe
fi

[ -d /run/sshd ] || $SUDO mkdir -p /run/sshd
