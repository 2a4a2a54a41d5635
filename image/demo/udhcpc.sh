#!/bin/sh
# udhcpc's hook: apply the lease (busybox passes it in the environment).
case $1 in
bound|renew)
	ip addr flush dev "$interface"
	ip addr add "$ip/${mask:-24}" dev "$interface"
	[ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface"
	: >/etc/resolv.conf
	for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
	echo "demo: $interface has $ip/${mask:-24}"
	;;
esac
