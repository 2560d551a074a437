#!/usr/bin/python3
"""Golden frames for the packet parser, built by scapy (an independent implementation).

Writes test/packet/testdata/golden.txt (one frame per line: name, hex bytes, and the fields
scapy sees, key=value) and the same frames as libFuzzer seeds in fuzz/corpus/packet_parse/.
Run from anywhere: /usr/bin/python3 test/packet/testdata/gen_golden.py
"""
import os
import sys

from scapy.all import (AH, ICMP, IP, TCP, UDP, Dot1AD, Dot1Q, Ether, ICMPv6DestUnreach,
                       ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6PacketTooBig,
                       ICMPv6ParamProblem, ICMPv6TimeExceeded, IPv6, IPv6ExtHdrDestOpt,
                       IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, Raw, ARP)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
CORPUS = os.path.join(ROOT, "fuzz", "corpus", "packet_parse")

E = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
A4, B4 = "198.18.1.2", "198.18.2.3"
A6, B6 = "2001:db8::1", "2001:db8:1::2"

TCP_FLAGS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20, "E": 0x40, "C": 0x80}


def frames():
    syn_opts = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None), ("WScale", 7)]
    tcp4 = Ether(**E) / IP(src=A4, dst=B4, ttl=61, tos=0x10) / TCP(sport=40000, dport=80, flags="S", seq=1000, window=64240, options=syn_opts)
    udp4 = Ether(**E) / IP(src=A4, dst=B4) / UDP(sport=5353, dport=53) / Raw(b"q" * 30)
    tcp6 = Ether(**E) / IPv6(src=A6, dst=B6, hlim=9, tc=0x28) / TCP(sport=443, dport=51000, flags="PA", seq=7, ack=8, window=501) / Raw(b"x" * 100)
    echo6 = Ether(**E) / IPv6(src=A6, dst=B6) / ICMPv6EchoRequest(id=0x1234, seq=1) / Raw(b"p" * 16)
    yield "tcp4_syn", tcp4
    yield "tcp4_ack_payload", Ether(**E) / IP(src=A4, dst=B4) / TCP(sport=1025, dport=22, flags="A", seq=0xfffffff0, ack=99) / Raw(b"y" * 200)
    yield "tcp4_finack", Ether(**E) / IP(src=A4, dst=B4, flags="DF") / TCP(sport=1, dport=2, flags="FA", seq=5, ack=6)
    yield "tcp4_rst", Ether(**E) / IP(src=A4, dst=B4) / TCP(sport=1, dport=2, flags="R", seq=5)
    yield "tcp4_vlan", Ether(**E) / Dot1Q(vlan=100, prio=5) / IP(src=A4, dst=B4) / TCP(sport=3, dport=4, flags="A")
    yield "tcp4_qinq", Ether(**E) / Dot1AD(vlan=10) / Dot1Q(vlan=20) / IP(src=A4, dst=B4) / TCP(sport=3, dport=4, flags="SA", options=[("MSS", 1200), ("WScale", 20)])
    yield "tcp4_ipopts", Ether(**E) / IP(src=A4, dst=B4, options=b"\x94\x04\x00\x00\x01\x01\x01\x00") / TCP(sport=5, dport=6, flags="S")
    yield "udp4", udp4
    yield "udp4_padded", Ether(**E) / IP(src=A4, dst=B4) / UDP(sport=67, dport=68) / Raw(b"a") / Raw(b"\x00" * 17)
    yield "icmp4_echo", Ether(**E) / IP(src=A4, dst=B4) / ICMP(type=8, id=0x4242, seq=3) / Raw(b"e" * 56)
    yield "icmp4_echo_reply", Ether(**E) / IP(src=B4, dst=A4) / ICMP(type=0, id=0x4242, seq=3)
    yield "icmp4_unreach_tcp", Ether(**E) / IP(src=B4, dst=A4) / ICMP(type=3, code=13) / bytes(tcp4[IP])[:28]
    yield "icmp4_ttl_udp", Ether(**E) / Dot1Q(vlan=7) / IP(src="198.19.255.1", dst=A4) / ICMP(type=11, code=0) / bytes(udp4[IP])
    yield "icmp4_unreach_echo", Ether(**E) / IP(src=B4, dst=A4) / ICMP(type=3, code=1) / bytes((IP(src=A4, dst=B4) / ICMP(type=8, id=77)))
    yield "frag4_first", Ether(**E) / IP(src=A4, dst=B4, flags="MF", id=0xabcd, frag=0, proto=17) / bytes(UDP(sport=9, dport=10, len=1000) / Raw(b"f" * 16))
    yield "frag4_later", Ether(**E) / IP(src=A4, dst=B4, flags=0, id=0xabcd, frag=3, proto=17) / Raw(b"g" * 40)
    yield "gre4", Ether(**E) / IP(src=A4, dst=B4, proto=47) / Raw(b"\x00\x00\x08\x00" + b"z" * 20)
    yield "tcp6", tcp6
    yield "udp6_ext", Ether(**E) / IPv6(src=A6, dst=B6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting() / IPv6ExtHdrDestOpt() / UDP(sport=546, dport=547) / Raw(b"d" * 10)
    # (AH is covered by the FrameBuilder tests: scapy computes no upper-layer checksum through it.)
    yield "tcp6_hbh_dst", Ether(**E) / IPv6(src=A6, dst=B6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / TCP(sport=7, dport=8, flags="S", options=[("MSS", 1220)])
    yield "icmp6_echo", echo6
    yield "icmp6_echo_reply_vlan", Ether(**E) / Dot1Q(vlan=4000) / IPv6(src=B6, dst=A6) / ICMPv6EchoReply(id=9, seq=9)
    yield "icmp6_unreach_tcp", Ether(**E) / IPv6(src=B6, dst=A6) / ICMPv6DestUnreach(code=1) / bytes(tcp6[IPv6])
    yield "icmp6_ptb_echo", Ether(**E) / IPv6(src="2001:db8::ff", dst=A6) / ICMPv6PacketTooBig(mtu=1280) / bytes(echo6[IPv6])
    yield "icmp6_timex_udp", Ether(**E) / IPv6(src="2001:db8::ff", dst=A6) / ICMPv6TimeExceeded() / bytes((IPv6(src=A6, dst=B6) / IPv6ExtHdrDestOpt() / UDP(sport=1, dport=2)))
    yield "icmp6_param", Ether(**E) / IPv6(src="2001:db8::ff", dst=A6) / ICMPv6ParamProblem(ptr=6) / bytes(tcp6[IPv6])[:60]
    yield "frag6_first", Ether(**E) / IPv6(src=A6, dst=B6) / IPv6ExtHdrFragment(offset=0, m=1, id=0x1234567) / TCP(sport=11, dport=12, flags="A") / Raw(b"h" * 20)
    yield "frag6_later", Ether(**E) / IPv6(src=A6, dst=B6) / IPv6ExtHdrFragment(offset=20, m=0, id=0x1234567, nh=6) / Raw(b"i" * 30)
    yield "arp", Ether(src=E["src"], dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=A4, pdst=B4)
    # fb_*: the same frames as FrameBuilder calls in golden_test.cc (byte-for-byte comparison).
    fb_syn = Ether(**E) / Dot1Q(vlan=100) / IP(src=A4, dst=B4, id=1) / TCP(sport=40000, dport=80, flags="S", seq=1000, window=64240, options=[("MSS", 1460)])
    yield "fb_vlan_syn", fb_syn
    yield "fb_udp", Ether(**E) / IP(src=A4, dst=B4, id=1) / UDP(sport=5353, dport=53) / Raw(bytes(range(30)))
    yield "fb_frag6_tcp", Ether(**E) / IPv6(src=A6, dst=B6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrFragment(m=1, id=0x1234567) / TCP(sport=1, dport=2, flags="A", seq=7, ack=8, window=501) / Raw(bytes(range(12)))
    yield "fb_echo4", Ether(**E) / IP(src=A4, dst=B4, id=1) / ICMP(type=8, id=0x4242, seq=3) / Raw(bytes(range(8)))
    yield "fb_echo6", Ether(**E) / IPv6(src=A6, dst=B6) / ICMPv6EchoRequest(id=0x1234, seq=1)
    yield "fb_unreach4", Ether(**E) / IP(src=B4, dst=A4, id=1) / ICMP(type=3, code=13) / bytes(fb_syn[IP])
    yield "fb_unreach6", Ether(**E) / IPv6(src=B6, dst=A6) / ICMPv6DestUnreach(code=1) / bytes((IPv6(src=A6, dst=B6) / UDP(sport=9, dport=10)))


def l4_fields(layer, out, prefix=""):
    if isinstance(layer, TCP):
        out[prefix + "sport"] = layer.sport
        out[prefix + "dport"] = layer.dport
        if prefix:
            out["inner.tcp_seq"] = layer.seq
            return
        out["tcp_flags"] = int(layer.flags)
        out["tcp_seq"] = layer.seq
        out["tcp_ack"] = layer.ack
        out["tcp_window"] = layer.window
        if int(layer.flags) & 0x02:
            for k, v in layer.options:
                if k == "MSS":
                    out["tcp_mss"] = v
                elif k == "WScale":
                    out["tcp_wscale"] = min(v, 14)
                elif k == "SAckOK":
                    out["tcp_sack_permitted"] = 1
    elif isinstance(layer, UDP):
        out[prefix + "sport"] = layer.sport
        out[prefix + "dport"] = layer.dport


def describe(name, pkt):
    raw = bytes(pkt)
    p = Ether(raw)  # re-dissect, as scapy sees the bytes
    f = {}
    vl = p
    tags = 0
    l3_off = 14
    while vl.payload and isinstance(vl.payload, (Dot1Q, Dot1AD)):
        vl = vl.payload
        tags += 1
        l3_off += 4
    f["num_vlans"] = tags
    if tags:
        f["vlan_tci0"] = (p.payload.prio << 13) | (p.payload.id << 12) | p.payload.vlan
    if isinstance(vl.payload, IP):
        ip = vl.payload
        f.update(family=4, src=ip.src, dst=ip.dst, ttl=ip.ttl, tos=ip.tos, l3_len=ip.len,
                 l3_offset=l3_off, proto=ip.proto)
        f["l4_offset"] = l3_off + ip.ihl * 4
        if ip.frag or (int(ip.flags) & 1):
            f.update(is_fragment=1, frag_offset=ip.frag, more_fragments=int(ip.flags) & 1,
                     frag_id=ip.id)
        if ip.frag == 0 and ip.proto in (6, 17):
            l4_fields(ip.payload, f)
        if ICMP in p and ip.proto == 1:
            ic = p[ICMP]
            f.update(icmp_type=ic.type, icmp_code=ic.code)
            if ic.type in (0, 8):
                f["icmp_id"] = ic.id
            if ic.type in (3, 4, 5, 11, 12):
                inner = IP(bytes(ic.payload))
                f.update({"inner.src": inner.src, "inner.dst": inner.dst, "inner.proto": inner.proto})
                if inner.proto in (6, 17):
                    l4 = (TCP if inner.proto == 6 else UDP)(bytes(inner)[inner.ihl * 4:])
                    l4_fields(l4, f, "inner.")
                elif inner.proto == 1:
                    ii = ICMP(bytes(inner)[inner.ihl * 4:])
                    f["inner.sport"] = f["inner.dport"] = ii.id
        return raw, f
    if isinstance(vl.payload, IPv6):
        ip = vl.payload
        f.update(family=6, src=ip.src, dst=ip.dst, ttl=ip.hlim, tos=ip.tc, l3_len=40 + ip.plen,
                 l3_offset=l3_off)
        # Walk scapy's layers to the upper layer.
        layer = ip.payload
        off = l3_off + 40
        nh = ip.nh
        later = False
        while isinstance(layer, (IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, IPv6ExtHdrDestOpt,
                                 IPv6ExtHdrFragment, AH)):
            if isinstance(layer, IPv6ExtHdrFragment):
                f.update(is_fragment=1, frag_offset=layer.offset, more_fragments=layer.m,
                         frag_id=layer.id)
                later = layer.offset != 0
                off += 8
            elif isinstance(layer, AH):
                off += (layer.payloadlen + 2) * 4
            else:
                off += (layer.len + 1) * 8
            nh = layer.nh
            layer = layer.payload
            if later:
                break
        f["proto"] = nh
        f["l4_offset"] = off
        if not later:
            l4_fields(layer, f)
            if nh == 58:
                t = raw[off]
                f.update(icmp_type=t, icmp_code=raw[off + 1])
                if t in (128, 129):
                    f["icmp_id"] = int.from_bytes(raw[off + 4:off + 6], "big")
                if 1 <= t <= 4:
                    inner = IPv6(raw[off + 8:])
                    f.update({"inner.src": inner.src, "inner.dst": inner.dst})
                    il = inner.payload
                    inh = inner.nh
                    while isinstance(il, (IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, IPv6ExtHdrDestOpt)):
                        inh = il.nh
                        il = il.payload
                    f["inner.proto"] = inh
                    if inh in (6, 17):
                        l4_fields(il, f, "inner.")
                    elif inh == 58:
                        f["inner.sport"] = f["inner.dport"] = il.id
        return raw, f
    f["error"] = "not-ip"
    return raw, f


def main():
    os.makedirs(CORPUS, exist_ok=True)
    lines = ["# generated by gen_golden.py (scapy); name hex key=value..."]
    for name, pkt in frames():
        raw, fields = describe(name, pkt)
        kv = " ".join(f"{k}={v}" for k, v in fields.items())
        lines.append(f"{name} {raw.hex()} {kv}")
        with open(os.path.join(CORPUS, name + ".bin"), "wb") as fh:
            fh.write(raw)
    with open(os.path.join(HERE, "golden.txt"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"wrote {len(lines) - 1} frames", file=sys.stderr)


if __name__ == "__main__":
    main()
