# shellcheck shell=bash
# Test helper (sourced): programs plain OpenFlow L2 + Geneve flows on every lab host with
# ovs-ofctl, from `lab status`, the way the agent will later do it natively. One L2 segment, VNI 5.
# Usage: lab_program_flows LAB_SCRIPT
lab_program_flows() {
  local lab="$1" vni=5
  local status; status="$("$lab" status)"
  local hosts; hosts="$(awk '/^host /{sub(":","",$2); print $2}' <<<"$status")"
  local h
  for h in $hosts; do
    local flows="" local_ports="" remote_tunnels=""
    local vm vhost mac ofport
    while read -r vm vhost mac ofport; do
      [ -n "$vm" ] || continue
      if [ "$vhost" = "$h" ]; then
        flows+="priority=100,dl_dst=$mac,actions=output:$ofport"$'\n'
        flows+="priority=100,in_port=geneve0,tun_id=$vni,dl_dst=$mac,actions=output:$ofport"$'\n'
        local_ports+="output:$ofport,"
      else
        local ul; ul="$(awk -v h="$vhost:" '$1=="host" && $2==h {print $6}' <<<"$status")"
        flows+="priority=100,dl_dst=$mac,actions=set_field:$vni->tun_id,set_field:$ul->tun_dst,output:geneve0"$'\n'
      fi
    done < <(awk '$1=="vm" {sub(":","",$2); print $2, $4, $10, $14}' <<<"$status")
    local other
    for other in $hosts; do
      [ "$other" = "$h" ] && continue
      local ul; ul="$(awk -v h="$other:" '$1=="host" && $2==h {print $6}' <<<"$status")"
      remote_tunnels+="set_field:$vni->tun_id,set_field:$ul->tun_dst,output:geneve0,"
    done
    local lp="${local_ports%,}"; [ -n "$lp" ] || lp="drop"
    flows+="priority=90,in_port=geneve0,tun_id=$vni,dl_dst=ff:ff:ff:ff:ff:ff,actions=$lp"$'\n'
    local all="${local_ports}${remote_tunnels}"; all="${all%,}"; [ -n "$all" ] || all="drop"
    flows+="priority=80,dl_dst=ff:ff:ff:ff:ff:ff,actions=$all"$'\n'
    "$lab" host exec "$h" -- ovs-ofctl replace-flows br-int - <<<"$flows"
  done
}
