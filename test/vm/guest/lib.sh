# test/vm/guest/lib.sh: what the VM checks share. Sourced by each check
# (bash) in the guest; C2C_SHARE is the 9p share (test/vm/guest/main).
#
# The checks set the system up as an operator would: the package installed
# with apt, the configuration in /etc/c2cbridge/config.yaml, the module
# paired with "c2cbridge pair", the service run by systemd. The simulated
# module ("c2cbridge simulate" from the package) runs as the transient
# unit c2c-sim; its pty is root:dialout 0660, as a real UART is.
#
# Every time limit here is a timeout, never a measurement: the guest runs
# under emulation.
set -euo pipefail

share=${C2C_SHARE:?C2C_SHARE: the 9p share}
config=/etc/c2cbridge/config.yaml
keys=/var/lib/c2cbridge/keys.yaml
# The module's own copy of its pairing, for restarts of the simulation.
simkeys=/var/lib/c2c-sim/keys.yaml
modem=/dev/c2c-modem
peer=/dev/c2c-peer
tty=/dev/ttyC2C0

log() { echo "[$(cut -d' ' -f1 /proc/uptime)] $*"; }
fail() {
	echo "FAIL: $*"
	exit 1
}

# wait_for SECONDS WHAT CMD...: run CMD every half second until it
# succeeds; fail naming WHAT after SECONDS.
wait_for() {
	local limit=$1 what=$2
	shift 2
	local end=$(($(date +%s) + limit))
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$end" ] || fail "timed out after ${limit}s waiting for $what"
		sleep 0.5
	done
}

# install_package [apt]: the .deb from the share, unless it is
# installed. With "apt", with apt as an operator would (nothing is
# downloaded: it depends on nothing); else with dpkg -i, which does the
# same here and is much faster under emulation (no package lists to read).
install_package() {
	if dpkg-query -W -f '${db:Status-Status}' c2cbridge 2>/dev/null | grep -qx installed; then
		return
	fi
	local deb
	deb=$(ls "$share"/deb/c2cbridge_*_amd64.deb)
	if [ "${1:-}" = apt ]; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Use-Pty=0 --no-install-recommends "$deb"
	else
		dpkg -i "$deb"
	fi
}

# write_config DEVICE [EXTRA]: the operator's edit of the configuration:
# the module's device, no hardware flow control (a pty and an ACM port
# have none), generous start-up probes for an emulated guest, EXTRA
# appended (more top-level sections).
write_config() {
	cat >"$config" <<-EOF
		modem:
		  device: $1
		  flow_control: none
		pty:
		  link: /run/c2cbridge/ttyC2C0
		  mode: "0660"
		  group: dialout
		keys:
		  file: $keys
		session:
		  probe_timeout: 10s
		log:
		  level: info
		  trace: true
		${2:-}
	EOF
}

# sim_start ARGS...: (re)start the simulated module with ARGS after
# "c2cbridge simulate"; waits for its tty (the --link, or the --device).
sim_start() {
	sim_stop
	local args=("$@") path=""
	for ((i = 0; i < ${#args[@]}; i++)); do
		case ${args[i]} in --link | --device) path=${args[i + 1]} ;; esac
	done
	log "simulate ${args[*]}"
	systemd-run --quiet --unit=c2c-sim --collect -p KillSignal=SIGTERM \
		/usr/bin/c2cbridge simulate "${args[@]}"
	wait_for 60 "the simulated module at $path" test -c "$path"
}

sim_stop() {
	systemctl stop c2c-sim.service 2>/dev/null || true
	systemctl reset-failed c2c-sim.service 2>/dev/null || true
}

# ensure_paired: pair the module once, with "c2cbridge pair" against the
# simulation in pairable mode, and keep the module's side of the pairing
# for later simulations. The bridge must be stopped.
ensure_paired() {
	if [ -s "$keys" ] && [ -s "$simkeys" ]; then
		return
	fi
	mkdir -p -m 0700 "$(dirname "$simkeys")"
	rm -f "$simkeys"
	# The service's StateDirectory= makes /var/lib/c2cbridge at its first
	# start, and "c2cbridge pair" (as root) comes before that: make it
	# root's, so that the first start gives it and the key file to the
	# service user (StateDirectory= changes the owner of a directory that
	# is not the user's, recursively).
	[ -d "$(dirname "$keys")" ] || install -d -m 0700 "$(dirname "$keys")"
	sim_start --link "$modem" --group dialout --pairable --keys "$simkeys"
	write_config "$modem"
	c2cbridge pair --config "$config" --force
	install -m 0600 "$keys" "$simkeys"
	sim_stop
}

# bridge_start: start the service and wait until it is active.
bridge_start() {
	systemctl start c2cbridge.service
	systemctl is-active --quiet c2cbridge.service || {
		systemctl status --no-pager c2cbridge.service || true
		fail "c2cbridge.service is not active after systemctl start"
	}
}

bridge_stop() { systemctl stop c2cbridge.service 2>/dev/null || true; }

# prop NAME: a property of the service (systemctl show).
prop() { systemctl show -p "$1" --value c2cbridge.service; }

# status_field PATH: a field of "c2cbridge status --json", e.g.
# session.state or counters.mac_failures.
status_field() {
	c2cbridge status --json | python3 -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[k]
print(v)' "$1"
}

session_open() { [ "$(status_field session.state 2>/dev/null)" = open ]; }

# at_ok: AT through the virtual tty is answered OK (pyserial, as an
# application would).
at_ok() {
	python3 - "$tty" <<-'EOF'
		import sys, time, serial
		with serial.Serial(sys.argv[1], 115200, timeout=1) as s:
		    s.reset_input_buffer()
		    s.write(b"AT\r")
		    got, end = b"", time.time() + 20
		    while time.time() < end and b"OK\r\n" not in got:
		        got += s.read(64)
		print(repr(got))
		sys.exit(0 if b"\r\nOK\r\n" in got else 1)
	EOF
}

# mark: a time stamp for journal_since; journal_since MARK: the service's
# journal since then.
mark() {
	date '+%Y-%m-%d %H:%M:%S'
	sleep 1
}
journal_since() { journalctl --no-pager -q -u c2cbridge.service --since "$1"; }

# ppp_peer_start: the network, a pppd in the network namespace "peer" on
# the simulated module's --data-peer pty: 10.64.0.1, giving the dialling
# side 10.64.0.2. It waits silently for the caller's LCP and reopens the
# pty after each call (persist): the module hangs it up when a call ends.
ppp_peer_start() {
	ip netns add peer 2>/dev/null || true
	ip netns exec peer ip link set lo up
	systemctl stop c2c-peer.service 2>/dev/null || true
	systemctl reset-failed c2c-peer.service 2>/dev/null || true
	systemd-run --quiet --unit=c2c-peer --collect \
		ip netns exec peer /usr/sbin/pppd "$peer" 115200 local nocrtscts noauth silent \
		persist holdoff 1 maxfail 0 nodetach nodefaultroute linkname c2c-peer \
		10.64.0.1:10.64.0.2
}

# peer_attached: the peer pppd has the data peer's pty open.
peer_attached() {
	local pid pts
	pid=$(systemctl show -p MainPID --value c2c-peer.service)
	pts=$(readlink -f "$peer")
	[ "$pid" != 0 ] && [ -n "$pts" ] || return 1
	for fd in /proc/"$pid"/fd/*; do
		[ "$(readlink "$fd" 2>/dev/null)" = "$pts" ] && return 0
	done
	return 1
}

# ppp_dial: the application, pppd with examples/ppp/'s peers file and
# chat script (installed by ppp_install) as the unit c2c-ppp. The peers
# file says persist: after a hang-up pppd dials again.
ppp_dial() {
	systemctl reset-failed c2c-ppp.service 2>/dev/null || true
	# holdoff 2 instead of the peers file's 10: the same behaviour, sooner.
	systemd-run --quiet --unit=c2c-ppp --collect /usr/sbin/pppd call c2cbridge nodetach linkname c2c holdoff 2
}

# ppp_install: examples/ppp/ where its comments say.
ppp_install() {
	modprobe ppp_async
	install -m 0644 "$share/examples/ppp/c2cbridge" /etc/ppp/peers/c2cbridge
	install -m 0644 "$share/examples/ppp/c2cbridge.chat" /etc/ppp/c2cbridge.chat
}

# ppp_up: wait until the dialling side has its address and ping the
# network through the call.
ppp_up() {
	wait_for 180 "ppp0 with an address" bash -c "ip -4 -o addr show dev ppp0 | grep -q 'inet 10.64.0.2'"
	ping -c 2 -W 20 10.64.0.1 || fail "ping through the call"
}

# ppp_stop: pppd hangs up and exits (SIGTERM: LCP terminate, then it
# closes the tty).
ppp_stop() {
	systemctl stop c2c-ppp.service 2>/dev/null || true
	systemctl reset-failed c2c-ppp.service 2>/dev/null || true
}

# cleanup_all: stop what a check started.
cleanup_all() {
	ppp_stop
	systemctl stop c2c-peer.service 2>/dev/null || true
	systemctl reset-failed c2c-peer.service 2>/dev/null || true
	bridge_stop
	sim_stop
}
