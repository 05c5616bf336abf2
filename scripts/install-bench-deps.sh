#!/bin/bash
#
# install-bench-deps.sh: the Debian 12 packages `make bench` needs beyond
# scripts/install-deps.sh: gnuplot (plots), rtpengine (the comparison relay;
# run by hand in the bench's namespace only, never as a service), SIPp
# (bench/signaling), ethtool (checksum offload off), python3 (the drivers).
# Only missing packages are installed; run as root. `make check` does not
# need them: the bench smoke tests skip what is missing, with the reason.
set -euo pipefail

PKGS=(gnuplot-nox rtpengine-daemon sip-tester ethtool python3 util-linux)

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-bench-deps.sh: all ${#PKGS[@]} packages present"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "install-bench-deps.sh: missing ${missing[*]}; run as root to install them" >&2
	exit 1
fi
echo "install-bench-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-install-recommends: rtpengine-daemon recommends its kernel module
# (DKMS) and iptables helpers, which the bench does not use (--table=-1).
apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The package enables its systemd unit; the bench runs rtpengine by hand in
# a network namespace, so a daemon on the host's ports is not wanted.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	systemctl disable --now rtpengine-daemon.service >/dev/null 2>&1 || true
fi
