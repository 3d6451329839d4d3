#!/usr/bin/env bash
# System packages the test suite needs besides PostgreSQL/Redis (scripts/test-services.sh) and
# Chromium (scripts/test-browser.sh): Dovecot, the real IMAP server the e-mail tests poll.
# Installs what is missing (as root on CI, else with sudo); the tests fail, never skip, without.
set -euo pipefail

log() { echo "test-deps: $*" >&2; }

pkgs=()
command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || pkgs+=(dovecot-imapd)
[ ${#pkgs[@]} -eq 0 ] && exit 0

log "installing ${pkgs[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
# The lock timeout waits for an apt already running instead of failing at once.
$sudo apt-get -o DPkg::Lock::Timeout=600 update -qq </dev/null
$sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
  --no-install-recommends "${pkgs[@]}" </dev/null
[ -x /usr/sbin/dovecot ] || { log "ERROR: dovecot still missing after apt-get install"; exit 1; }
