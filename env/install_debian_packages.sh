#!/usr/bin/env bash
# Installs Debian packages with apt-get (as root), waiting - with a message, for a bounded time - when
# another package manager (an unattended upgrade, a second setup) holds apt's lock, instead of
# failing at once with status 100.
#
#   env/install_debian_packages.sh ffmpeg chromium
#
# AUDITORYHUM_APT_LOCK_WAIT: seconds to wait for the lock in all (default 600).
set -euo pipefail

wait_limit=${AUDITORYHUM_APT_LOCK_WAIT:-600}
waited=0
said=false
log() { echo "[setup] $*" >&2; }

# apt_get ARG...: apt-get, retried while the failure is another process holding apt's lock.
apt_get() {
    local output status
    while true; do
        status=0
        output=$(DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=10 "$@" 2>&1 >/dev/null) || status=$?
        if (( status == 0 )); then return 0; fi
        if ! grep -qiE "could not get lock|unable to acquire the dpkg frontend lock|is another process using it" <<< "$output"; then
            echo "$output" >&2
            return "$status"
        fi
        if (( waited >= wait_limit )); then
            log "error: the package manager's lock is still held after ${waited} s (${output//$'\n'/ }); wait for the other apt or dpkg to finish, then run this again"
            return "$status"
        fi
        if [[ $said == false ]]; then
            log "waiting for the package manager's lock, held by another apt or dpkg (at most ${wait_limit} s)"
            said=true
        fi
        sleep 5
        waited=$(( waited + 5 ))
    done
}

apt_get update -qq
apt_get install -y -qq "$@"
