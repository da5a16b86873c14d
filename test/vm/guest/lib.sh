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
	write_config_pty "$1" "  link: /run/c2cbridge/ttyC2C0
  mode: \"0660\"
  group: dialout" "${2:-}"
}

# write_config_device DEVICE TTY [EXTRA]: write_config with the bridge
# serving the existing tty TTY (pty.device, a USB gadget's /dev/ttyGS0)
# instead of a pty.
write_config_device() {
	write_config_pty "$1" "  device: $2" "${3:-}"
}

# write_config_pty DEVICE PTY [EXTRA]: the configuration with PTY as the
# body of its pty: section (indented lines).
write_config_pty() {
	cat >"$config" <<-EOF
		modem:
		  device: $1
		  flow_control: none
		pty:
		$2
		keys:
		  file: $keys
		session:
		  probe_timeout: 10s
		log:
		  level: info
		  trace: true
		${3:-}
	EOF
}

# sim_start ARGS...: (re)start the simulated module with ARGS after
# "c2cbridge simulate" as the unit c2c-sim; waits for its tty (the
# --link, or the --device).
sim_start() { sim_start_unit c2c-sim "$@"; }
sim_stop() { sim_stop_unit c2c-sim; }

# sim_start_unit UNIT ARGS...: sim_start as the transient unit UNIT (one
# per simulated module, for several modems).
sim_start_unit() {
	local unit=$1
	shift
	sim_stop_unit "$unit"
	local args=("$@") path=""
	for ((i = 0; i < ${#args[@]}; i++)); do
		case ${args[i]} in --link | --device) path=${args[i + 1]} ;; esac
	done
	log "$unit: simulate ${args[*]}"
	systemd-run --quiet --unit="$unit" --collect -p KillSignal=SIGTERM \
		/usr/bin/c2cbridge simulate "${args[@]}"
	wait_for 60 "the simulated module at $path" test -c "$path"
}

sim_stop_unit() {
	systemctl stop "$1.service" 2>/dev/null || true
	systemctl reset-failed "$1.service" 2>/dev/null || true
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

# status_field PATH [ARGS...]: a field of "c2cbridge status --json
# ARGS...", e.g. session.state or counters.mac_failures (ARGS: --instance
# NAME for an instance).
status_field() {
	c2cbridge status --json "${@:2}" | python3 -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[k]
print(v)' "$1"
}

# session_open [ARGS...]: the session is open (ARGS as status_field's).
session_open() { [ "$(status_field session.state "$@" 2>/dev/null)" = open ]; }

# at_ok [TTY]: AT through the virtual tty (TTY, else /dev/ttyC2C0) is
# answered OK (pyserial, as an application would).
at_ok() {
	python3 - "${1:-$tty}" <<-'EOF'
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

# Instances of c2cbridge@.service, one bridge per modem. Instance NAME
# reads /etc/c2cbridge/instances/NAME.yaml, keeps its key file in
# /var/lib/c2cbridge/NAME/ and serves /dev/ttyC2C-NAME; its simulated
# module is the unit c2c-sim-NAME at /dev/c2c-NAME (the example instance
# file's modem.device), holding its copy of the pairing in
# /var/lib/c2c-sim/NAME/keys.yaml.
instance_config() { echo "/etc/c2cbridge/instances/$1.yaml"; }
instance_keys() { echo "/var/lib/c2cbridge/$1/keys.yaml"; }
instance_simkeys() { echo "/var/lib/c2c-sim/$1/keys.yaml"; }

# write_instance_config NAME [EXTRA]: the operator's instance file, as the
# README says: the packaged example (written for modem1) with modem1
# replaced by NAME; then no hardware flow control, trace, the generous
# start-up probe and EXTRA (more top-level sections) appended.
write_instance_config() {
	local name=$1 file
	file=$(instance_config "$name")
	install -d -m 0755 "$(dirname "$file")"
	sed -e "s/modem1/$name/g" -e '/^  device: /a\  flow_control: none' -e '/^  level: /a\  trace: true' \
		/usr/share/doc/c2cbridge/examples/instance.yaml >"$file"
	printf 'session:\n  probe_timeout: 10s\n%s\n' "${2:-}" >>"$file"
}

# instance_sim_start NAME [ARGS...]: instance NAME's simulated module,
# holding its copy of the pairing, with more simulate ARGS.
instance_sim_start() {
	local name=$1
	shift
	sim_start_unit "c2c-sim-$name" --link "/dev/c2c-$name" --group dialout --keys "$(instance_simkeys "$name")" "$@"
}

instance_sim_stop() { sim_stop_unit "c2c-sim-$1"; }

# ensure_instance_paired NAME: pair instance NAME's module once with
# "c2cbridge pair --config /etc/c2cbridge/instances/NAME.yaml" (its
# instance file written, the instance stopped), as ensure_paired does for
# the single bridge.
ensure_instance_paired() {
	local name=$1 k s
	k=$(instance_keys "$name")
	s=$(instance_simkeys "$name")
	if [ -s "$k" ] && [ -s "$s" ]; then
		return
	fi
	install -d -m 0700 "$(dirname "$s")"
	rm -f "$s"
	# "c2cbridge pair" writes the key file but does not make its
	# directory, and systemd makes it (StateDirectory=) only at the
	# instance's first start, which needs the key file: make it root's
	# 0700, as the package does /var/lib/c2cbridge; the first start gives
	# it to the service user.
	[ -d "$(dirname "$k")" ] || install -d -m 0700 "$(dirname "$k")"
	instance_sim_start "$name" --pairable
	c2cbridge pair --config "$(instance_config "$name")" --force
	install -m 0600 "$k" "$s"
	instance_sim_stop "$name"
}

# instance_start NAME: start c2cbridge@NAME.service and check it is active.
instance_start() {
	systemctl start "c2cbridge@$1.service"
	systemctl is-active --quiet "c2cbridge@$1.service" || {
		systemctl status --no-pager "c2cbridge@$1.service" || true
		fail "c2cbridge@$1.service is not active after systemctl start"
	}
}

instance_stop() {
	systemctl stop "c2cbridge@$1.service" 2>/dev/null || true
	systemctl reset-failed "c2cbridge@$1.service" 2>/dev/null || true
}

# The bridge's application side as a USB port (pty.device): the package's
# c2cbridge-gadget.service makes the gadget: section's gadget on
# dummy_hcd's loopback controller before c2cbridge.service starts. The
# bridge serves its /dev/ttyGS0; the host side is a u-blox /dev/ttyACM<N>
# on this machine, /dev/serial/by-id/usb-u-blox_*_SERIAL-if00.
app_gadget_serial=c2cbridge-app0001
app_gadget_dir=/sys/kernel/config/usb_gadget/c2cbridge
app_gadget_modules=/etc/modules-load.d/c2cbridge-vm.conf

# write_config_gadget DEVICE [EXTRA]: the configuration with the bridge
# serving the gadget's /dev/ttyGS0 and the gadget: section.
write_config_gadget() {
	write_config_device "$1" /dev/ttyGS0 "gadget:
  serial: $app_gadget_serial
${2:-}"
}

# gadget_app_up: as an operator would: dummy_hcd (and cdc_acm, the host
# side's driver) loaded at boot and now, the gadget unit enabled, so that
# the bridge's start (bridge_start, after) pulls it in, ordered before.
gadget_app_up() {
	printf 'dummy_hcd\ncdc_acm\n' >"$app_gadget_modules"
	modprobe dummy_hcd
	modprobe cdc_acm
	[ -z "$(ls /sys/kernel/config/usb_gadget/ 2>/dev/null)" ] ||
		fail "a gadget is left over: $(ls /sys/kernel/config/usb_gadget/)"
	systemctl enable c2cbridge-gadget.service
}

# app_host_tty: the host side's by-id name (fails if there is none).
app_host_tty() { ls /dev/serial/by-id/usb-u-blox_*_"$app_gadget_serial"-if00; }

# gadget_app_check: after the bridge's start: the gadget is bound, its
# tty is /dev/ttyGS0 and the host side has its by-id name.
gadget_app_check() {
	systemctl is-active --quiet c2cbridge-gadget.service || {
		systemctl status --no-pager c2cbridge-gadget.service || true
		fail "c2cbridge-gadget.service is not active"
	}
	[ -n "$(cat "$app_gadget_dir/UDC")" ] || fail "the application gadget is not bound"
	local n
	n=$(cat "$app_gadget_dir/functions/acm.usb0/port_num")
	[ "$n" = 0 ] || fail "the application gadget's tty is /dev/ttyGS$n, pty.device says /dev/ttyGS0 (a gadget left over?)"
	wait_for 60 "the host side's /dev/serial/by-id/ name" app_host_tty
	log "application side: /dev/ttyGS0 ($(stat -c '%U:%G %a' /dev/ttyGS0)), host side $(app_host_tty) -> $(readlink -f "$(app_host_tty)")"
}

# gadget_app_down: the bridge stopped, the gadget unit stopped (it
# removes the gadget) and disabled; no gadget is left.
gadget_app_down() {
	bridge_stop
	systemctl stop c2cbridge-gadget.service 2>/dev/null || true
	systemctl disable c2cbridge-gadget.service 2>/dev/null || true
	systemctl reset-failed c2cbridge-gadget.service 2>/dev/null || true
	rm -f "$app_gadget_modules"
	[ -z "$(ls /sys/kernel/config/usb_gadget/ 2>/dev/null)" ] || {
		echo "gadget_app_down: a gadget is left: $(ls /sys/kernel/config/usb_gadget/)"
		return 1
	}
}

# cleanup_all: stop what a check started.
cleanup_all() {
	ppp_stop
	systemctl stop c2c-peer.service 2>/dev/null || true
	systemctl reset-failed c2c-peer.service 2>/dev/null || true
	bridge_stop
	sim_stop
}
