#!/usr/bin/env python3
"""Send one RFC 7047 transact request to an OVN_Northbound ovsdb-server over its unix socket and
wait until ovn-northd has processed it (what `ovn-nbctl --wait=sb` waits for).

usage: ovsdb_tx.py NB_SOCKET REQUEST.json [PID...]  (REQUEST as written by `rampart-bench logical --ovn-out`)
       ovsdb_tx.py --count SOCKET DB TABLE   (prints the number of rows of TABLE)
       ovsdb_tx.py --plain SOCKET REQUEST.json (only the transaction, no waiting for northd)

The request gets two more operations: NB_Global nb_cfg += 1 and a select of the new nb_cfg, in
the same transaction. Then NB_Global.sb_cfg is polled (every 2 ms) until it reaches that value:
northd sets it once it has written the Southbound database for the change and SB has committed.
Prints JSON: {"commit_s": ..., "done_s": ..., "nb_cfg": N} (seconds from sending the request),
and with PIDs (ovn-northd's first, then the ovsdb-servers') "cpu_s": the CPU time (user + system)
the first used meanwhile, "cpu_all_s": all of them together.
"""
import json
import os
import socket
import sys
import time


class Conn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.buf = ""
        self.dec = json.JSONDecoder()
        self.next_id = 100

    def send(self, msg):
        self.s.sendall(json.dumps(msg, separators=(",", ":")).encode())

    def recv(self):
        while True:
            stripped = self.buf.lstrip()
            if stripped:
                try:
                    obj, end = self.dec.raw_decode(stripped)
                    self.buf = stripped[end:]
                    if obj.get("method") == "echo":  # inactivity probe
                        self.send({"result": obj.get("params", []), "error": None, "id": obj.get("id")})
                        continue
                    return obj
                except json.JSONDecodeError:
                    pass
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise SystemExit("ovsdb_tx: connection closed by ovsdb-server")
            self.buf += chunk.decode()

    def call(self, params):
        self.next_id += 1
        self.send({"method": "transact", "params": params, "id": self.next_id})
        while True:
            r = self.recv()
            if r.get("id") == self.next_id:
                return r


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def check(reply, what):
    if reply.get("error") is not None:
        raise SystemExit(f"ovsdb_tx: {what}: {reply['error']}")
    for i, res in enumerate(reply["result"]):
        if isinstance(res, dict) and "error" in res:
            raise SystemExit(f"ovsdb_tx: {what}: operation {i}: {res}")


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--count":
        r = Conn(sys.argv[2]).call([sys.argv[3], {"op": "select", "table": sys.argv[4], "where": [], "columns": ["_uuid"]}])
        check(r, "count")
        print(len(r["result"][0]["rows"]))
        return
    if len(sys.argv) == 4 and sys.argv[1] == "--plain":
        with open(sys.argv[3]) as f:
            check(Conn(sys.argv[2]).call(json.load(f)["params"]), sys.argv[3])
        return
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    pids = sys.argv[3:]
    with open(sys.argv[2]) as f:
        req = json.load(f)
    params = req["params"]
    params.append({"op": "mutate", "table": "NB_Global", "where": [], "mutations": [["nb_cfg", "+=", 1]]})
    params.append({"op": "select", "table": "NB_Global", "where": [], "columns": ["nb_cfg"]})
    c = Conn(sys.argv[1])
    cpu0 = [cpu_seconds(p) for p in pids]
    t0 = time.monotonic()
    reply = c.call(params)
    commit = time.monotonic() - t0
    check(reply, sys.argv[2])
    rows = reply["result"][-1]["rows"]
    if not rows:
        raise SystemExit("ovsdb_tx: NB_Global has no row (run ovn-nbctl init first)")
    want = rows[0]["nb_cfg"]
    while True:
        r = c.call(["OVN_Northbound", {"op": "select", "table": "NB_Global", "where": [], "columns": ["sb_cfg"]}])
        check(r, "poll sb_cfg")
        if r["result"][0]["rows"][0]["sb_cfg"] >= want:
            break
        time.sleep(0.002)
    done = time.monotonic() - t0
    result = {"commit_s": commit, "done_s": done, "nb_cfg": want}
    if pids:
        used = [cpu_seconds(p) - c for p, c in zip(pids, cpu0)]
        result["cpu_s"] = used[0]
        result["cpu_all_s"] = sum(used)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
