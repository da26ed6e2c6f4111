"""A small authoritative DNS server for tests (UDP and TCP on loopback), answering from a dict:
{name: [{"A": "1.2.3.4"}, {"TXT": "v=spf1 ..." or ["part1", "part2"]}, {"MX": [10, "mx"]},
"TIMEOUT", ...]}. Unknown names get NXDOMAIN; a name with a TIMEOUT entry gets no answer."""
import socket
import struct
import threading

from dnslib import AAAA, CNAME, MX, PTR, QTYPE, RCODE, RR, TXT, A, DNSRecord

TYPES = {"A": (QTYPE.A, lambda v: A(v)), "AAAA": (QTYPE.AAAA, lambda v: AAAA(v)),
         "MX": (QTYPE.MX, lambda v: MX(v[1], v[0])), "PTR": (QTYPE.PTR, lambda v: PTR(v)),
         "CNAME": (QTYPE.CNAME, lambda v: CNAME(v)),
         "TXT": (QTYPE.TXT, lambda v: TXT([p.encode() for p in v] if isinstance(v, list)
                                          else [v.encode()[i:i + 255]
                                                for i in range(0, max(len(v.encode()), 1), 255)])),
         "SPF": (99, None)}


class Zone:
    def __init__(self, records):
        self.records = {}
        for name, recs in records.items():
            self.records[name.lower().rstrip(".")] = recs

    def answer(self, request):
        """The reply bytes, or None for no answer (TIMEOUT)."""
        q = request.q
        name = str(q.qname).lower().rstrip(".")
        reply = request.reply()
        reply.header.aa = 1
        recs = self.records.get(name)
        if recs is None:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        has_txt = any(isinstance(r, dict) and "TXT" in r for r in recs)
        matched = False
        for r in recs:
            # TIMEOUT answers nothing, unless records of the asked type came before it (the
            # suite's convention: a server that times out only on some types).
            if r == "TIMEOUT":
                if not matched:
                    return None
                break
            if not isinstance(r, dict):
                continue
            for kind, value in r.items():
                if value == "NONE":
                    continue  # the name exists, without records of this type
                if kind == "SPF":
                    # RFC 7208 dropped the SPF type; drivers serve SPF data as TXT.
                    if has_txt:
                        continue
                    kind = "TXT"
                qtype, make = TYPES[kind]
                if kind == "CNAME" and q.qtype != QTYPE.CNAME:
                    reply.add_answer(RR(q.qname, QTYPE.CNAME, rdata=make(value), ttl=60))
                    continue
                if qtype == q.qtype:
                    matched = True
                    reply.add_answer(RR(q.qname, qtype, rdata=make(value), ttl=60))
        return reply


class Server:
    """Serves a Zone on 127.0.0.1 (UDP and TCP, same port)."""

    def __init__(self, zone):
        self.zone = zone
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.port = self.udp.getsockname()[1]
        self.tcp = socket.socket()
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", self.port))
        self.tcp.listen()
        self.running = True
        threading.Thread(target=self._udp, daemon=True).start()
        threading.Thread(target=self._tcp, daemon=True).start()

    def _reply(self, data):
        try:
            request = DNSRecord.parse(data)
        except Exception:
            return None
        reply = self.zone.answer(request)
        return None if reply is None else reply.pack()

    def _udp(self):
        while self.running:
            try:
                data, peer = self.udp.recvfrom(4096)
            except OSError:
                return
            out = self._reply(data)
            if out is not None:
                if len(out) > 512:
                    # Truncated: the client retries over TCP.
                    r = DNSRecord.parse(out)
                    r.rr = []
                    r.header.tc = 1
                    out = r.pack()
                self.udp.sendto(out, peer)

    def _tcp(self):
        while self.running:
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            threading.Thread(target=self._tcp_conn, args=(conn,), daemon=True).start()

    def _tcp_conn(self, conn):
        with conn:
            f = conn.makefile("rb")
            while True:
                head = f.read(2)
                if len(head) < 2:
                    return
                data = f.read(struct.unpack("!H", head)[0])
                out = self._reply(data)
                if out is None:
                    return
                conn.sendall(struct.pack("!H", len(out)) + out)

    def set_zone(self, zone):
        self.zone = zone

    def stop(self):
        self.running = False
        self.udp.close()
        self.tcp.close()
