# shellcheck shell=bash
# Helpers for scripts/services.sh: messages, port checks, waiting, starting
# and stopping background daemons, apt with retries. Sourced, not run.

say()  { echo "services: $*"; }
warn() { echo "services: $*" >&2; }

# Milliseconds since the epoch, for "started in N ms" and phase timings.
now_ms() { date +%s%3N; }
since_ms() { echo $(( $(now_ms) - $1 )); }

# True when something accepts TCP connections on 127.0.0.1:$1. Uses bash's
# /dev/tcp so it works without iproute2; `timeout` bounds a filtered port.
port_open() {
  timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# The pid listening on 127.0.0.1:$1 (first one), or nothing. Needs `ss`
# (iproute2) and, for other users' processes, root.
listener_pid() {
  command -v ss >/dev/null 2>&1 || return 0
  ss -ltnpH "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2 || true
}

# True when pid $1 is alive and its command name is $2 (guards against a
# stale pid file whose pid the kernel has since given to another process).
pid_is() {
  [ -n "$1" ] && [ -r "/proc/$1/comm" ] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]
}

# True while pid $1 runs. A zombie counts as gone: daemons started here are
# re-parented to PID 1, which may take a while to reap them.
pid_running() {
  kill -0 "$1" 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# The command line of pid $1, NULs turned into spaces.
pid_cmdline() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true; }

# wait_for SECONDS CMD...: polls CMD every 0.1 s until it succeeds.
wait_for() {
  local deadline=$(( $(now_ms) + $1 * 1000 ))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$(now_ms)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

# wait_alive PID SECONDS CMD...: like wait_for, but gives up at once when
# PID (the daemon just started) has exited. Returns 2 in that case.
wait_alive() {
  local pid=$1 deadline=$(( $(now_ms) + $2 * 1000 ))
  shift 2
  until "$@" >/dev/null 2>&1; do
    pid_running "$pid" || return 2
    [ "$(now_ms)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

# The last lines of a log, indented, for failure messages.
log_tail() {
  [ -f "$1" ] || return 0
  warn "last lines of $1:"
  tail -n "${2:-20}" "$1" | sed 's/^/    /' >&2
}

# start_daemon LOG PIDFILE CMD...: runs CMD detached from this script —
# its own session (setsid: no SIGHUP/SIGINT from our terminal or CI job),
# stdin from /dev/null, output appended to LOG — and with every other
# inherited descriptor closed: fd 9 is the services lock, and a pipe a CI
# runner or `scripts/services.sh | tee` passed down would keep that caller
# waiting for EOF as long as the daemon lives. The script has no job
# control, so the background subshell is not a group leader and every exec
# (setsid, nohup, env, the daemon) happens in place: $! is the daemon's pid.
start_daemon() {
  local log=$1 pidfile=$2
  shift 2
  echo "=== $(date -Is) starting: $*" >>"$log"
  (
    for fd in /proc/self/fd/*; do
      fd=${fd##*/}
      if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi
    done
    exec setsid nohup "$@" >>"$log" 2>&1 </dev/null
  ) &
  echo $! >"$pidfile"
}

# stop_daemon NAME PIDFILE PORT COMM MATCH: stops the daemon this script
# started — the pid in PIDFILE, or else whatever listens on PORT if its
# command name is COMM and its command line contains MATCH (the pid file
# was lost). Anything else on the port is left alone. SIGTERM, then
# SIGKILL after 10 s; returns once the port is closed.
stop_daemon() {
  local name=$1 pidfile=$2 port=$3 comm=$4 match=$5 pid=""
  if [ -f "$pidfile" ]; then pid=$(cat "$pidfile"); fi
  if ! pid_is "$pid" "$comm"; then
    pid=$(listener_pid "$port")
    if ! pid_is "$pid" "$comm" || [[ "$(pid_cmdline "$pid")" != *"$match"* ]]; then
      rm -f "$pidfile"
      if port_open "$port"; then
        warn "$name: 127.0.0.1:$port is served by a process this script did not start${pid:+ (pid $pid)}; leaving it alone"
        return 1
      fi
      say "$name: not running"
      return 0
    fi
  fi
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_for 10 eval "! pid_running $pid"; then
    warn "$name: pid $pid ignored SIGTERM for 10 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_for 5 eval "! pid_running $pid" || true
  fi
  rm -f "$pidfile"
  if ! wait_for 5 eval "! port_open $port"; then
    warn "$name: 127.0.0.1:$port still accepts connections after stopping pid $pid"
    return 1
  fi
  say "$name: stopped (pid $pid)"
}

# apt_install LOG PACKAGE...: installs packages, retrying. Another apt run
# may hold the dpkg lock (wait for it up to 2 min), or the package lists may
# be missing or stale (refresh them and try again).
apt_install() {
  local log=$1 attempt
  shift
  if [ "$(id -u)" -ne 0 ]; then
    warn "need root to install $* (or install them yourself: apt-get install $*)"
    return 1
  fi
  say "installing $* (apt log: $log)"
  for attempt in 1 2 3 4 5; do
    if DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o DPkg::Lock::Timeout=120 "$@" >>"$log" 2>&1; then
      return 0
    fi
    warn "apt-get install $* failed (attempt $attempt of 5); refreshing package lists and retrying"
    apt-get update -q -o DPkg::Lock::Timeout=120 >>"$log" 2>&1 || true
    sleep $(( attempt * 2 ))
  done
  warn "could not install $*"
  log_tail "$log"
  return 1
}
