#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/seeds/<target>/ (committed; small and meaningful).

Run from anywhere: python3 fuzz/seeds/generate.py. The fuzz runs read these seeds and
write what they find to fuzz/corpus/<target>/ (not committed). Sources:

- control_protocol, journal_replay: the request lines of control/tests/wire_compat.rs's
  SCRIPT (every request kind, with and without optional fields, and common refusals);
  journal lines are those requests as the journal writes them (bare, or an entry with
  the nexthop id its `nexthop_add` got), plus a torn last line and a corrupt middle one.
- fpm_netlink, kernel_mirror: netlink route and nexthop messages laid out as
  control/src/source/fpm/build.rs and source/netlink/build.rs build them (zebra's and
  the kernel's), in FPM frames / in the kernel mirror's op script.
- config: control/examples/fibred.toml and variants per section of docs/CONFIG.md.
"""

import json
import os
import re
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def write(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- control protocol and journal -------------------------------------------------

def script_lines():
    text = open(os.path.join(ROOT, "control/tests/wire_compat.rs")).read()
    body = text[text.index("const SCRIPT"):]
    body = body[: body.index("];")]
    return re.findall(r'r#"(.*?)"#', body)


LINES = script_lines()
for i, line in enumerate(LINES):
    write("control_protocol", f"line-{i:02}", line)
# Sessions: the whole script, and its first half, as one input each.
write("control_protocol", "script-all", "\n".join(LINES) + "\n")
write("control_protocol", "script-half", "\n".join(LINES[: len(LINES) // 2]) + "\n")
write("control_protocol", "garbage-version", '{"v":2,"id":1,"request":"hello"}\n{"id":3}\nnot json\n')

requests = []
for line in LINES:
    try:
        msg = json.loads(line)
    except json.JSONDecodeError:
        continue
    if isinstance(msg, dict) and "request" in msg:
        requests.append(json.dumps(msg["request"], separators=(",", ":")))
state = [r for r in requests if not r.startswith('"')]  # requests with arguments
journal = []
for r in state:
    if r.startswith('{"nexthop_add"'):
        journal.append('{"request":%s,"nexthop":%d}' % (r, 1 + len(journal) % 3))
    else:
        journal.append(r)
# First byte: bit 0 = compact always.
write("journal_replay", "all-compact", b"\x01" + ("\n".join(journal) + "\n").encode())
write("journal_replay", "all", b"\x00" + ("\n".join(journal) + "\n").encode())
write("journal_replay", "torn-tail", b"\x00" + ("\n".join(journal[:6]) + "\n" + journal[6][:20]).encode())
write("journal_replay", "corrupt-middle", b"\x00" + ("\n".join(journal[:3] + ["{oops"] + journal[3:6]) + "\n").encode())
write("journal_replay", "empty-lines", b"\x01\n\n" + (journal[0] + "\n\n").encode())
for i, j in enumerate(journal[:12]):
    write("journal_replay", f"entry-{i:02}", b"\x00" + (j + "\n").encode())
write("journal_replay", "route-churn", b"\x01" + "".join(
    '{"route_add":{"prefix":"10.%d.0.0/16","target":{"gateway":"192.0.2.2"}}}\n'
    '{"route_del":{"prefix":"10.%d.0.0/16"}}\n' % (i, i) for i in range(4)).encode()
    + b'{"route_replace":{"prefix":"10.9.0.0/16","target":{"gateway":"198.51.100.2"}}}\n')

# ---- netlink ----------------------------------------------------------------------

RTM_NEWROUTE, RTM_DELROUTE, RTM_NEWLINK, RTM_DELADDR = 24, 25, 16, 21
RTM_NEWNEXTHOP, RTM_DELNEXTHOP = 104, 105
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_MULTIPATH, RTA_TABLE, RTA_NH_ID = 1, 4, 5, 6, 9, 15, 30
NHA_ID, NHA_GROUP, NHA_BLACKHOLE, NHA_OIF, NHA_GATEWAY = 1, 2, 4, 5, 6
AF_INET, AF_INET6, AF_UNSPEC = 2, 10, 0


def pad(b):
    return b + b"\0" * (-len(b) % 4)


def attr(kind, value):
    return pad(struct.pack("=HH", len(value) + 4, kind) + value)


def nlmsg(kind, body, flags=0x501, seq=0, pid=0):
    return pad(struct.pack("=IHHII", len(body) + 16, kind, flags, seq, pid) + body)


def ip(s):
    return bytes(int(x) for x in s.split("."))


def rtmsg(prefix, table=254, proto=196, kind=1, family=AF_INET, scope=0, tos=0, flags=0):
    addr, plen = prefix.split("/")
    return struct.pack("=BBBBBBBBI", family, int(plen), 0, tos, min(table, 252) if table > 255 else table,
                       proto, scope, kind, flags) + (attr(RTA_DST, ip(addr)) if int(plen) else b"")


def route(prefix, gw=None, oif=None, nh_id=None, multipath=None, kind=1, table=254, proto=196,
          metric=20, table_attr=False, dead=False, tos=0):
    body = rtmsg(prefix, table=table, proto=proto, kind=kind, tos=tos)
    if table_attr:
        body += attr(RTA_TABLE, struct.pack("=I", table))
    body += attr(RTA_PRIORITY, struct.pack("=I", metric))
    if gw:
        body += attr(RTA_GATEWAY, ip(gw))
    if oif is not None:
        body += attr(RTA_OIF, struct.pack("=I", oif))
    if nh_id is not None:
        body += attr(RTA_NH_ID, struct.pack("=I", nh_id))
    if multipath:
        hops = b""
        for g, w in multipath:
            a = attr(RTA_GATEWAY, ip(g))
            hops += struct.pack("=HBBi", 8 + len(a), 1 if dead else 0, w, 3) + a
        body += attr(RTA_MULTIPATH, hops)
    return body


def nexthop(nh_id, gw=None, blackhole=False, group=None, dead=False):
    family = AF_UNSPEC if group else AF_INET
    body = struct.pack("=BBBBI", family, 0, 11, 0, 1 if dead else 0) + attr(NHA_ID, struct.pack("=I", nh_id))
    if gw:
        body += attr(NHA_GATEWAY, ip(gw)) + attr(NHA_OIF, struct.pack("=I", 3))
    if blackhole:
        body += attr(NHA_BLACKHOLE, b"")
    if group:
        body += attr(NHA_GROUP, b"".join(struct.pack("=IHH", i, 0, 0) for i in group))
    return body


def nexthop_del(nh_id):
    return struct.pack("=BBBBI", AF_UNSPEC, 0, 11, 0, 0) + attr(NHA_ID, struct.pack("=I", nh_id))


ZEBRA = {
    "gateway": nlmsg(RTM_NEWROUTE, route("10.0.0.0/8", gw="192.0.2.2")),
    "default": nlmsg(RTM_NEWROUTE, route("0.0.0.0/0", gw="198.51.100.2")),
    "object": nlmsg(RTM_NEWROUTE, route("10.1.0.0/16", nh_id=7)),
    "multipath": nlmsg(RTM_NEWROUTE, route("10.2.0.0/16", multipath=[("192.0.2.2", 0), ("192.0.2.3", 1)])),
    "multipath-dead": nlmsg(RTM_NEWROUTE, route("10.3.0.0/16", multipath=[("192.0.2.2", 0)], dead=True)),
    "oif": nlmsg(RTM_NEWROUTE, route("10.4.0.0/16", oif=3)),
    "blackhole": nlmsg(RTM_NEWROUTE, route("10.5.0.0/16", kind=6)),
    "unreachable": nlmsg(RTM_NEWROUTE, route("10.6.0.0/16", kind=7)),
    "tos": nlmsg(RTM_NEWROUTE, route("10.7.0.0/16", gw="192.0.2.2", tos=4)),
    "del": nlmsg(RTM_DELROUTE, route("10.0.0.0/8")),
    "v6": nlmsg(RTM_NEWROUTE, struct.pack("=BBBBBBBBI", AF_INET6, 64, 0, 0, 254, 2, 0, 1, 0)
                + attr(RTA_DST, bytes([0xfe, 0x80] + [0] * 14))),
    "nh-gw": nlmsg(RTM_NEWNEXTHOP, nexthop(7, gw="192.0.2.2")),
    "nh-bh": nlmsg(RTM_NEWNEXTHOP, nexthop(8, blackhole=True)),
    "nh-group": nlmsg(RTM_NEWNEXTHOP, nexthop(9, group=[7, 8])),
    "nh-dead": nlmsg(RTM_NEWNEXTHOP, nexthop(10, gw="192.0.2.1", dead=True)),
    "nh-del": nlmsg(RTM_DELNEXTHOP, nexthop_del(7)),
}


def fpm(payload, kind=1):
    return struct.pack(">BBH", 1, kind, len(payload) + 4) + payload


for name, msg in ZEBRA.items():
    write("fpm_netlink", name, b"\xff" + fpm(msg))
# A session: nexthops, routes over them, an update (delete + new in one frame), a
# nexthop replaced and deleted; read 7 bytes at a time.
session = b"".join([
    fpm(ZEBRA["nh-gw"] + ZEBRA["nh-bh"] + ZEBRA["nh-group"]),
    fpm(ZEBRA["gateway"] + ZEBRA["object"] + ZEBRA["multipath"]),
    fpm(nlmsg(RTM_NEWROUTE, route("10.8.0.0/16", nh_id=9))),
    fpm(ZEBRA["del"] + nlmsg(RTM_NEWROUTE, route("10.0.0.0/8", gw="192.0.2.3"))),
    fpm(nlmsg(RTM_NEWNEXTHOP, nexthop(7, gw="192.0.2.4"))),
    fpm(b"\0" * 8, kind=2),
    fpm(ZEBRA["nh-del"] + ZEBRA["blackhole"] + ZEBRA["tos"]),
])
write("fpm_netlink", "session", b"\x06" + session)
write("fpm_netlink", "session-bytewise", b"\x00" + session)
write("fpm_netlink", "bad-version", b"\x03" + fpm(ZEBRA["gateway"]) + b"\x02\x01\x00\x08abcd")
write("fpm_netlink", "short-nlmsg", b"\xff" + fpm(ZEBRA["gateway"][:20]))

PORT = 0x1000


def kroute(prefix, **kw):
    kw.setdefault("proto", 4)  # static
    kw.setdefault("metric", 0)
    kw.setdefault("table_attr", True)
    return route(prefix, **kw)


def datagram(*msgs):
    d = b"".join(msgs)
    return b"\x01" + struct.pack("<H", len(d)) + d


def dump_part(body, seq=1, kind=RTM_NEWROUTE):
    return nlmsg(kind, body, flags=0x2, seq=seq, pid=PORT)


def done(seq=1, code=0, flags=0x2):
    return nlmsg(NLMSG_DONE, struct.pack("=i", code), flags=flags, seq=seq, pid=PORT)


BEGIN, OVERFLOW, REOPEN, REFUSED = b"\x00", b"\x02", b"\x03", b"\x04"


def tick(n):
    return b"\x05" + bytes([n])


K = {
    "gw": kroute("10.0.0.0/8", gw="192.0.2.2", oif=3),
    "gw-metric": kroute("10.0.0.0/8", gw="192.0.2.3", oif=3, metric=100),
    "connected": route("192.0.2.0/24", oif=3, proto=2, metric=0, table_attr=True),
    "multipath": kroute("10.2.0.0/16", multipath=[("192.0.2.2", 1), ("192.0.2.3", 2)]),
    "blackhole": kroute("10.5.0.0/16", kind=6),
    "local": route("192.0.2.1/32", oif=3, proto=2, kind=2, table=255, table_attr=True),
    "other-table": kroute("10.9.0.0/16", gw="192.0.2.2", oif=3, table=100),
    "dev": kroute("10.4.0.0/16", oif=3),
}
dump = BEGIN + datagram(*(dump_part(b) for b in K.values())) + datagram(done())
write("kernel_mirror", "dump", dump)
write("kernel_mirror", "dump-then-notify", dump
      + datagram(nlmsg(RTM_NEWROUTE, K["gw-metric"], flags=0x600))
      + datagram(nlmsg(RTM_DELROUTE, K["gw"], flags=0))
      + datagram(nlmsg(RTM_NEWLINK, b"\0" * 16, flags=0)) + tick(20) + BEGIN
      + datagram(dump_part(K["gw-metric"], seq=2)) + datagram(done(seq=2)))
write("kernel_mirror", "dump-interrupted", BEGIN + datagram(dump_part(K["gw"])) + datagram(done(flags=0x12))
      + BEGIN + datagram(dump_part(K["multipath"], seq=2)) + datagram(done(seq=2)))
write("kernel_mirror", "dump-overflow", BEGIN + datagram(dump_part(K["gw"])) + OVERFLOW + datagram(done())
      + BEGIN + datagram(done(seq=2)))
write("kernel_mirror", "dump-refused", BEGIN + datagram(nlmsg(NLMSG_ERROR, struct.pack("=i", -16) + b"\0" * 16,
                                                              seq=1, pid=PORT)) + tick(60) + BEGIN + REOPEN)
write("kernel_mirror", "notify-during-dump", BEGIN + datagram(dump_part(K["gw"]))
      + datagram(nlmsg(RTM_DELROUTE, K["gw"], flags=0)) + datagram(dump_part(K["dev"])) + datagram(done())
      + datagram(nlmsg(RTM_DELADDR, bytes([AF_INET]) + b"\0" * 7, flags=0)) + tick(11) + BEGIN + REFUSED)
for name, body in K.items():
    write("kernel_mirror", f"one-{name}", BEGIN + datagram(dump_part(body)) + datagram(done()))

# ---- config -------------------------------------------------------------------------

example = open(os.path.join(ROOT, "control/examples/fibred.toml")).read()
write("config", "example", example)
write("config", "minimal", '[[port]]\nname = "p0"\ndpdk = "net_null0"\naddr = "192.0.2.1/24"\n')
write("config", "sources-journal", example.replace('[cores]', '''[journal]
fsync = "never"
compact_bytes = 4096

[kernel]
netns = "lab"
table = 100
into_table = 7
distance = 5

[fpm]
listen = "127.0.0.1:2620"
distance = 20

[cores]'''))
write("config", "cores-count", example.replace("cpus = [1]", "count = 2").replace('idle = "spin"', 'idle = "yield"'))
write("config", "fib-limits", '[fib]\nmax_nexthops = 100\nmax_tbl8_groups = 256\nmax_resyncs_in_a_row = 3\nring_size = 64\n'
      '[[port]]\nname = "a"\ndpdk = "0000:01:00.0"\naddr = ["10.0.0.1/31", "10.1.0.1/24"]\ntable = 7\nmtu = 9000\n'
      '[[route]]\nprefix = "10.2.0.0/16"\ntable = 7\nvia = "10.1.0.2"\n')
write("config", "errors", '[[port]]\nname = "p0"\ndpdk = "x"\naddr = "192.0.2.0/24"\n[[route]]\nprefix = "10.0.0.1/8"\nvia = "1.2.3.4"\n')

# ---- regressions: inputs that crashed a target once ---------------------------------

# kernel_mirror: NLMSG_DONE / NLMSG_ERROR of our dump with error code i32::MIN: `-code`
# overflowed (a panic with overflow checks, as in `cargo test` builds).
write("kernel_mirror", "regress-done-code-min", BEGIN + datagram(done(code=-2**31)))
write("kernel_mirror", "regress-error-code-min",
      BEGIN + datagram(nlmsg(NLMSG_ERROR, struct.pack("=i", -2**31) + b"\0" * 16, seq=1, pid=PORT)))
