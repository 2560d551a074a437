# shellcheck shell=bash
# Helpers shared by scripts/lab and the lab tests (sourced, not executed).

die() { echo "lab: $*" >&2; exit 1; }

# Namespace prefix unique to a lab directory: rl-<6 hex of sha1(realpath)>.
lab_prefix() { echo "rl-$(printf '%s' "$1" | sha1sum | cut -c1-6)"; }

# wait_for DESCRIPTION SECONDS CMD...: retries CMD every 0.1 s until it succeeds or time is up.
wait_for() {
  local what="$1" secs="$2"; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { echo "lab: timed out after ${secs}s waiting for $what" >&2; return 1; }
    sleep 0.1
  done
}

# proc_running PID: the process exists and is not a zombie (a killed daemon whose parent is a
# container's init may stay a zombie for a while; kill -0 would still succeed).
proc_running() {
  local state
  state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# kill_pid PID: SIGTERM, up to 5 s for it to exit, then SIGKILL.
kill_pid() {
  local pid="$1" i
  proc_running "$pid" || return 0
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    proc_running "$pid" || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

# in_vm_range IP: true for a dotted quad inside 198.18.0.0/15.
in_vm_range() {
  local ip="$1" a b c d
  [[ "$ip" =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || return 1
  a=${BASH_REMATCH[1]}; b=${BASH_REMATCH[2]}; c=${BASH_REMATCH[3]}; d=${BASH_REMATCH[4]}
  [ "$a" -eq 198 ] && { [ "$b" -eq 18 ] || [ "$b" -eq 19 ]; } && [ "$c" -le 255 ] && [ "$d" -le 255 ] &&
    ! { [ "$b" -eq 19 ] && [ "$c" -eq 255 ]; }  # 198.19.255.0/24 is the underlay
}

# Unix socket paths are limited to 107 bytes.
check_socket_len() {
  [ "${#1}" -le 100 ] || die "socket path $1 is too long (${#1} > 100 bytes): use a shorter RAMPART_LAB_DIR"
}
