#!/usr/bin/env python3
"""Records an OpenFlow exchange as hex fixtures: listens on a unix socket, forwards each
connection to the real switch socket and writes every message, one per line, as
'<c2s|s2c> <hex>' to the log. Used once to capture the fixtures in this folder:
  capture_proxy.py LISTEN_SOCK SWITCH_SOCK LOG &
  ovs-ofctl -O OpenFlow13 add-flow unix:LISTEN_SOCK '...'
"""
import os, socket, sys, threading

listen_path, switch_path, log_path = sys.argv[1:4]
lock = threading.Lock()


def pump(src, dst, tag, log):
    buf = b""
    while True:
        try:
            data = src.recv(65536)
        except OSError:
            data = b""
        if not data:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return
        dst.sendall(data)
        buf += data
        while len(buf) >= 8:
            n = int.from_bytes(buf[2:4], "big")
            if n < 8 or len(buf) < n:
                break
            with lock:
                log.write("%s %s\n" % (tag, buf[:n].hex()))
                log.flush()
            buf = buf[n:]


if os.path.exists(listen_path):
    os.unlink(listen_path)
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(listen_path)
srv.listen(4)
with open(log_path, "a") as log:
    while True:
        c, _ = srv.accept()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(switch_path)
        with lock:
            log.write("# connection\n")
        threading.Thread(target=pump, args=(c, s, "c2s", log), daemon=True).start()
        threading.Thread(target=pump, args=(s, c, "s2c", log), daemon=True).start()
