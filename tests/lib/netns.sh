# netns.sh — several hosts on this one machine, for the many-hosts tests
# (issue 16, part 1): network namespaces made by the test, and nothing else.
#
#   ns_setup N            a server namespace holding a bridge (10.A.B.1/24,
#                         A and B random) and N host namespaces, each joined
#                         to the bridge by a veth pair (host i is 10.A.B.(10+i))
#   ns_srv CMD...         run CMD in the server namespace
#   ns_run I CMD...       run CMD on host I
#   ns_cut I / ns_mend I  take host I's link down / up (at the bridge port: the
#                         host's sockets stay open and its packets are lost,
#                         as when a cable or a switch port fails)
#   ns_kill I             kill -9 every process of host I (a host that dies)
#   ns_cleanup            kill what runs in them and delete every namespace
#                         made here (registered in $_t_cleanup_extra)
#
# Everything is made inside namespaces this file creates, so the machine's
# own interfaces, addresses and routes are never touched: the veth pairs are
# created in the server namespace with their host ends moved at once, and
# deleting a namespace deletes its links. Files (unix sockets among them) are
# not namespaced: the test reaches its servers over unix sockets from the
# root namespace, while the hosts reach them only over the bridge.
# shellcheck shell=sh

NS_P="acme$$"
NS_SRV="${NS_P}-srv"
NS_HOSTS=

# ns_can: can this process make network namespaces? (root, ip, a kernel
# that allows it). Prints the reason when not.
ns_can() {
	command -v ip >/dev/null || { echo "ip (iproute2) is not installed"; return 1; }
	[ "$(id -u)" -eq 0 ] || { echo "network namespaces need root"; return 1; }
	if ! _e=$(ip netns add "${NS_P}-probe" 2>&1); then
		echo "cannot make a network namespace: $_e"
		return 1
	fi
	ip netns del "${NS_P}-probe"
	if ! _e=$(ip netns add "${NS_P}-probe" 2>&1 && ip -n "${NS_P}-probe" link add b0 type bridge 2>&1); then
		ip netns del "${NS_P}-probe" 2>/dev/null
		echo "cannot make a bridge in a namespace: $_e"
		return 1
	fi
	ip netns del "${NS_P}-probe"
}

ns_setup() {
	_n=$1
	_r=$(od -An -N2 -tu1 /dev/urandom | tr -s ' ')
	# shellcheck disable=SC2086 # two numbers, split on purpose
	set -- $_r
	NS_NET="10.$((64 + $1 % 64)).$2"
	NS_SRV_ADDR="$NS_NET.1"
	ip netns add "$NS_SRV" || return 1
	_t_cleanup_extra="$_t_cleanup_extra ns_cleanup"
	ip -n "$NS_SRV" link set lo up &&
		ip -n "$NS_SRV" link add br0 type bridge &&
		ip -n "$NS_SRV" addr add "$NS_SRV_ADDR/24" dev br0 &&
		ip -n "$NS_SRV" link set br0 up || return 1
	_i=1
	while [ "$_i" -le "$_n" ]; do
		_h="${NS_P}-h$_i"
		ip netns add "$_h" || return 1
		NS_HOSTS="$NS_HOSTS $_h"
		ip -n "$NS_SRV" link add "h$_i" type veth peer name eth0 netns "$_h" &&
			ip -n "$NS_SRV" link set "h$_i" master br0 &&
			ip -n "$NS_SRV" link set "h$_i" up &&
			ip -n "$_h" link set lo up &&
			ip -n "$_h" addr add "$NS_NET.$((10 + _i))/24" dev eth0 &&
			ip -n "$_h" link set eth0 up || return 1
		_i=$((_i + 1))
	done
}

ns_addr() { echo "$NS_NET.$((10 + $1))"; }
ns_srv() { ip netns exec "$NS_SRV" "$@"; }
ns_run() { _h="${NS_P}-h$1"; shift; ip netns exec "$_h" "$@"; }
ns_cut() { ip -n "$NS_SRV" link set "h$1" down; }
ns_mend() { ip -n "$NS_SRV" link set "h$1" up; }
ns_pids() { ip netns pids "${NS_P}-h$1" 2>/dev/null; }
ns_kill() {
	# bounded: a process that forks while we kill is caught by the next round
	_k=0
	while [ -n "$(ns_pids "$1")" ] && [ $_k -lt 50 ]; do
		# shellcheck disable=SC2046
		kill -KILL $(ns_pids "$1") 2>/dev/null
		sleep 0.1
		_k=$((_k + 1))
	done
	[ -z "$(ns_pids "$1")" ]
}

ns_cleanup() {
	for _ns in $NS_HOSTS "$NS_SRV"; do
		ip netns list 2>/dev/null | grep -q "^$_ns\\b" || continue
		_k=0
		while [ -n "$(ip netns pids "$_ns" 2>/dev/null)" ] && [ $_k -lt 50 ]; do
			# shellcheck disable=SC2046
			kill -KILL $(ip netns pids "$_ns") 2>/dev/null
			sleep 0.1
			_k=$((_k + 1))
		done
		ip netns del "$_ns" 2>/dev/null
	done
	NS_HOSTS=
}
