#!/usr/bin/env python3
"""Turns a nicvm --trace file (Chrome trace-event JSON) into a Mermaid sequence diagram.

    trace2seq.py excerpt TRACE --match REGEX [--tail-us N] -o OUT.json
        keeps only the packets whose summary matches REGEX (e.g. DHCP, ICMP), the
        interrupts on their queues and the guest's exits to the NIC's registers in a
        window after each one: a small trace that still opens in ui.perfetto.dev
    trace2seq.py mermaid TRACE [--irq irqfd|line]
        a Mermaid sequenceDiagram, one arrow per step, each naming the nicvm function
        and the backend call, with the time since the first step and the step's duration
    trace2seq.py costs TRACE
        a Markdown table: per step, how many, and min / median / max duration in us

Python 3 standard library only. The step names are those vmm/trace.c, devices/virtio_net.c
and net/netdev.c write; the function names are where those events are recorded.
"""
import argparse
import json
import re
import statistics
import sys

# virtio-mmio register offsets (devices/virtio_mmio.h, virtio 1.2 section 4.2.2).
VMMIO_REGS = {
    0x000: "MagicValue", 0x004: "Version", 0x008: "DeviceID", 0x00C: "VendorID",
    0x010: "DeviceFeatures", 0x014: "DeviceFeaturesSel", 0x020: "DriverFeatures",
    0x024: "DriverFeaturesSel", 0x030: "QueueSel", 0x034: "QueueNumMax", 0x038: "QueueNum",
    0x044: "QueueReady", 0x050: "QueueNotify", 0x060: "InterruptStatus",
    0x064: "InterruptACK", 0x070: "Status", 0x080: "QueueDescLow", 0x084: "QueueDescHigh",
    0x090: "QueueDriverLow", 0x094: "QueueDriverHigh", 0x0A0: "QueueDeviceLow",
    0x0A4: "QueueDeviceHigh", 0x0FC: "ConfigGeneration",
}
VIRTIO_MMIO_WINDOW = 0x1000
# e1000 registers (devices/e1000_int.h, 8254x manual section 13).
E1000_REGS = {
    0x0000: "CTRL", 0x0008: "STATUS", 0x00C0: "ICR", 0x00C4: "ITR", 0x00C8: "ICS",
    0x00D0: "IMS", 0x00D8: "IMC", 0x0100: "RCTL", 0x0400: "TCTL", 0x2800: "RDBAL",
    0x2808: "RDLEN", 0x2810: "RDH", 0x2818: "RDT", 0x2820: "RDTR", 0x282C: "RADV",
    0x3800: "TDBAL", 0x3808: "TDLEN", 0x3810: "TDH", 0x3818: "TDT", 0x3820: "TIDV",
    0x382C: "TADV",
}
# What each backend type's write and read are (net/slirp.c, net/tap.c, net/socket.c).
BACKEND_CALLS = {
    "user": ("slirp_send() → slirp_input()", "slirp_cb_send() → netdev_deliver()"),
    "tap": ("tap_send() → writev(tap fd)", "tap_read_frames(): read(tap fd) → netdev_deliver()"),
    "socket": ("socket_send() → sendmsg()", "socket_read(): recvfrom() → netdev_deliver()"),
}


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def tracks(trace):
    """tid -> track name, from the thread_name metadata events."""
    return {e["tid"]: e["args"]["name"] for e in trace["traceEvents"]
            if e.get("ph") == "M" and e.get("name") == "thread_name"}


def slices(trace):
    return [e for e in trace["traceEvents"] if e.get("ph") in ("X", "i")]


def flow_slices(trace):
    """flow id -> the slices its s/t/f events bind to (same track, same timestamp)."""
    by_key = {}
    for e in slices(trace):
        by_key.setdefault((e["tid"], e["ts"]), []).append(e)
    flows = {}
    for e in trace["traceEvents"]:
        if e.get("ph") in ("s", "t", "f"):
            bound = [s for s in by_key.get((e["tid"], e["ts"]), []) if s.get("cat") == "packet"]
            flows.setdefault(e["id"], []).extend(bound)
    return flows


def nic_exit(e, names):
    """True for a vCPU exit to a NIC's registers (not the console, PCI config or legacy)."""
    region = e.get("args", {}).get("region", "")
    return e.get("cat") == "exit" and (region.startswith("virtio-net") or
                                       region.startswith("e1000"))


def cmd_excerpt(args):
    trace = load(args.trace)
    names = tracks(trace)
    pattern = re.compile(args.match)
    matching = sorted((min(s["ts"] for s in ss), fid) for fid, ss in flow_slices(trace).items()
                      if ss and any(pattern.search(s.get("args", {}).get("packet", ""))
                                    for s in ss))
    keep_flows = {fid for _, fid in matching[:args.max_flows or None]}
    flow_of = {}
    for fid, ss in flow_slices(trace).items():
        for s in ss:
            flow_of[id(s)] = fid
    windows = []
    for fid, ss in flow_slices(trace).items():
        if fid in keep_flows and ss:
            windows.append((min(s["ts"] for s in ss) - args.head_us,
                            max(s["ts"] + s.get("dur", 0) for s in ss) + args.tail_us))
    if not windows:
        sys.exit("trace2seq: no packet matches %r" % args.match)

    def in_window(e):
        return any(lo <= e["ts"] <= hi for lo, hi in windows)

    kept = []
    for e in slices(trace):
        fid = flow_of.get(id(e))
        if fid is not None:
            if fid in keep_flows:
                kept.append(e)
        elif (e.get("cat") == "packet" or nic_exit(e, names)) and in_window(e):
            kept.append(e)
    used_tids = {e["tid"] for e in kept}
    meta = [e for e in trace["traceEvents"] if e.get("ph") == "M" and
            (e.get("name") == "process_name" or e.get("tid") in used_tids)]
    flows = [e for e in trace["traceEvents"] if e.get("ph") in ("s", "t", "f") and
             e["id"] in keep_flows]
    out = {"displayTimeUnit": "ns",
           "otherData": {"producer": "nicvm", "excerpt": "trace2seq.py excerpt --match " +
                         args.match},
           "traceEvents": meta + sorted(kept + flows, key=lambda e: (e["ts"], e["ph"] != "X"))}
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=0, sort_keys=True)
        f.write("\n")


def esc(text):
    """Mermaid message text: no ';' or '#' (statement separator, entity prefix)."""
    return text.replace("#", "#35;").replace(";", "#59;")


def us(v):
    return "%.1f us" % v


class Seq:
    """Builds the diagram: participants in first-use order, one line per arrow or note."""

    def __init__(self, names, irq):
        self.names = names
        self.irq = irq
        self.lines = []
        self.parts = {}
        self.t0 = None
        self.kicked = {}  # tx participant -> True when its kick was an exit
        self.tx_track = next((n for n in names.values() if n.endswith("tx ring")), None)

    def part(self, key, label):
        if key not in self.parts:
            self.parts[key] = label
        return key

    def at(self, e):
        return "+%.3f ms" % ((e["ts"] - self.t0) / 1000.0)

    def arrow(self, a, b, text, kind="->>"):
        self.lines.append("    %s%s%s: %s" % (a, kind, b, esc(text)))

    def note(self, a, text):
        self.lines.append("    Note over %s: %s" % (a, esc(text)))

    def queue(self, e):
        name = self.names.get(e["tid"], "?")
        key = "TX" if name.endswith(("tx queue", "tx ring")) else "RX"
        return self.part(key, name)

    def backend(self, e):
        name = self.names.get(e["tid"], "?")
        m = re.search(r"\((\w+)\)$", name)
        btype = m.group(1) if m else "?"
        host = {"user": "libslirp (host sockets)", "tap": "host kernel (tap queue)",
                "socket": "host kernel (UDP socket)"}
        self.part("N", name)
        return btype, self.part("H", host.get(btype, "host"))

    def exit_(self, e):
        a = e["args"]
        g = self.part("G", "guest (%s)" % self.names.get(e["tid"], "vCPU"))
        k = self.part("K", "KVM")
        addr = int(a.get("addr", a.get("port", "0")), 16)
        reg = register(a)
        what = "%s %s %s" % (a["dir"], a["region"], reg)
        if a["dir"] == "write":
            what += " = %s" % a["data"]
        self.arrow(g, k, "%s %s (%d bytes, rip %s)" % (self.at(e), what, a["size"], a["rip"]))
        dev = self.part("D", "nicvm vCPU thread")
        result = " → %s" % a["data"] if a["dir"] == "read" else ""
        handler = "virtio_mmio_io()" if a["region"].startswith("virtio") else "e1000_mmio()"
        self.arrow(k, dev, "KVM_EXIT_%s: exit_%s() → iobus_dispatch() → %s%s [%s]"
                   % (a["reason"], a["reason"].lower(), handler, result, us(e.get("dur", 0))))
        if reg == "QueueNotify":
            q = self.part("TX", "virtio-net0 tx queue") if a["data"] == "0x1" else \
                self.part("RX", "virtio-net0 rx queue")
            self.arrow(dev, q, "virtio_mmio_kick(): eventfd write → event loop → virtio_mmio_on_kick()", "-)")
            self.kicked[q] = True
        if reg == "TDT":
            q = self.part("TX", self.tx_track or "tx ring")
            self.arrow(dev, q, "wr_tdt() → e1000_kick(): eventfd write → event loop → "
                       "e1000_on_work()", "-)")
            self.kicked[q] = True

    def packet(self, e):
        a = e.get("args", {})
        n = e["name"]
        if n == "tx chain":
            q = self.queue(e)
            if not self.kicked.pop(q, False):
                g = self.part("G", "guest (vCPU 0)")
                k = self.part("K", "KVM")
                self.arrow(g, k, "%s write QueueNotify = 1: KVM matches the ioeventfd, no exit"
                           % self.at(e), "-)")
                self.arrow(k, q, "eventfd → event loop → virtio_mmio_on_kick()", "-)")
            self.note(q, "%s virtio_net_tx(): chain head %d, %d bytes, %d descriptor(s) [%s]"
                      % (self.at(e), a["head"], a["bytes"], a["descriptors"],
                         us(e.get("dur", 0))))
        elif n == "tx descriptors":
            q = self.queue(e)
            self.kicked.pop(q, False)
            self.note(q, "%s e1000_tx_run(): frame at TDH %d, %d bytes [%s]"
                      % (self.at(e), a["tdh"], a["bytes"], us(e.get("dur", 0))))
        elif n == "rx descriptors":
            q = self.queue(e)
            self.arrow("N", q, "%s e1000_receive() → e1000_rx_frame(): %d bytes at RDH %d [%s]"
                       % (self.at(e), a["bytes"], a["rdh"], us(e.get("dur", 0))))
        elif n == "mitigation timer fired":
            self.note(self.queue(e), "%s mitigation timer %s fired" % (self.at(e), a.get("timer")))
        elif n in ("backend write", "backend write (queued)", "backend full: queued"):
            btype, h = self.backend(e)
            self.arrow("TX", "N", "netdev_send()")
            self.arrow("N", h, "%s %s: %s [%s]" % (self.at(e), BACKEND_CALLS.get(btype, ("send",))[0],
                                                  a.get("packet", ""), us(e.get("dur", 0))))
        elif n == "backend read":
            btype, h = self.backend(e)
            self.arrow(h, "N", "%s %s: %s [%s]" % (self.at(e), BACKEND_CALLS.get(btype, ("", "read"))[1],
                                                  a.get("packet", ""), us(e.get("dur", 0))))
        elif n == "rx buffers":
            q = self.queue(e)
            self.arrow("N", q, "%s virtio_net_receive(): %d bytes into %d buffer(s), head %d [%s]"
                       % (self.at(e), a["bytes"], a["buffers"], a["first_head"],
                          us(e.get("dur", 0))))
        elif n == "rx dropped" or n == "rx waits for buffers":
            self.note(self.queue(e), "%s %s %s" % (self.at(e), n, a.get("reason", "")))
        elif n in ("interrupt", "interrupt suppressed"):
            q = self.queue(e)
            g = self.part("G", "guest (vCPU 0)")
            e1000 = self.names.get(e["tid"], "").endswith("ring")
            fn = "e1000_update_irq()" if e1000 else "virtio_mmio_signal_used()"
            if n == "interrupt" and e1000:
                self.arrow(q, g, "%s %s: INTx asserted (KVM_IRQ_LINE, level)" % (self.at(e), fn),
                           "-)")
            elif n == "interrupt":
                how = "irqfd write, KVM injects" if self.irq == "irqfd" else "KVM_IRQ_LINE ioctl"
                self.arrow(q, g, "%s %s: interrupt (%s) [%s]"
                           % (self.at(e), fn, how, us(e.get("dur", 0))), "-)")
            else:
                self.note(q, "%s %s: %s" % (self.at(e), fn, a.get("reason", "")))

    def render(self, evs):
        self.t0 = evs[0]["ts"] if evs else 0
        for e in evs:
            if e.get("cat") == "exit":
                self.exit_(e)
            else:
                self.packet(e)
        order = ["G", "K", "D", "TX", "RX", "N", "H"]
        head = ["sequenceDiagram"]
        for key in order:
            if key in self.parts:
                head.append("    participant %s as %s" % (key, esc(self.parts[key])))
        return "\n".join(head + self.lines) + "\n"


def register(a):
    """The register an exit touched, by name where the script knows it."""
    addr = int(a.get("addr", a.get("port", "0")), 16)
    if a["region"].startswith("virtio"):
        off = addr % VIRTIO_MMIO_WINDOW
        return VMMIO_REGS.get(off, "config+0x%x" % (off - 0x100) if off >= 0x100 else "0x%x" % off)
    off = addr % 0x20000
    return E1000_REGS.get(off, "offset 0x%x" % off)


def steps(trace):
    return sorted((e for e in slices(trace) if e.get("ph") == "X"), key=lambda e: e["ts"])


def cmd_mermaid(args):
    trace = load(args.trace)
    evs = sorted(slices(trace), key=lambda e: e["ts"])
    sys.stdout.write(Seq(tracks(trace), args.irq).render(evs))


def step_name(e, names):
    if e.get("cat") == "exit":
        a = e["args"]
        return "KVM_EXIT_%s %s %s (handler)" % (a["reason"], a["dir"], register(a))
    track = names.get(e["tid"], "?")
    if e["name"] in ("backend write", "backend read"):
        return "%s on %s" % (e["name"], track)
    return "%s (%s)" % (e["name"], track)


def cmd_costs(args):
    trace = load(args.trace)
    names = tracks(trace)
    groups = {}
    for e in steps(trace):
        groups.setdefault(step_name(e, names), []).append(e.get("dur", 0))
    print("| step | n | min us | median us | max us |")
    print("|---|---|---|---|---|")
    for name in sorted(groups, key=lambda k: -statistics.median(groups[k])):
        d = groups[name]
        print("| %s | %d | %.1f | %.1f | %.1f |" % (name, len(d), min(d), statistics.median(d),
                                                   max(d)))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("excerpt", help="trim a trace to the packets matching a pattern")
    e.add_argument("trace")
    e.add_argument("--match", required=True, help="regular expression on packet summaries")
    e.add_argument("--head-us", type=float, default=1000.0,
                   help="keep NIC exits this long before each packet (us): the kick")
    e.add_argument("--tail-us", type=float, default=10000.0,
                   help="keep NIC exits and interrupts this long after each packet (us)")
    e.add_argument("--max-flows", type=int, default=0,
                   help="keep only the first N matching packets (0: all)")
    e.add_argument("-o", "--output", required=True)
    e.set_defaults(fn=cmd_excerpt)
    m = sub.add_parser("mermaid", help="a Mermaid sequence diagram of a (trimmed) trace")
    m.add_argument("trace")
    m.add_argument("--irq", choices=["irqfd", "line"], default="irqfd",
                   help="how the run injected interrupts (line: it ran with --no-irqfd)")
    m.set_defaults(fn=cmd_mermaid)
    c = sub.add_parser("costs", help="per-step durations as a Markdown table")
    c.add_argument("trace")
    c.set_defaults(fn=cmd_costs)
    args = p.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
