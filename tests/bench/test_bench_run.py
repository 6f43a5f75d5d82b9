#!/usr/bin/env python3
"""Unit tests of bench/run's parsing and report code (no KVM, no root): what it reads from
ping, from both VMMs' query-stats and from the guest's iperf3 result line, and how it turns
repetitions into the table. The iperf3 path runs only on hardware KVM, so its parsing is
checked here against the formats the guest image prints.

usage: test_bench_run.py PATH/TO/bench/run"""
import importlib.machinery
import importlib.util
import os
import sys
import unittest

RUN = sys.argv.pop(1) if len(sys.argv) > 1 else "bench/run"
_loader = importlib.machinery.SourceFileLoader("bench_run", RUN)
_spec = importlib.util.spec_from_loader("bench_run", _loader)
run = importlib.util.module_from_spec(_spec)
_loader.exec_module(run)

PING = """PING 10.77.0.2 (10.77.0.2) 56(84) bytes of data.
64 bytes from 10.77.0.2: icmp_seq=1 ttl=64 time=20.3 ms
64 bytes from 10.77.0.2: icmp_seq=2 ttl=64 time=19.8 ms
64 bytes from 10.77.0.2: icmp_seq=4 ttl=64 time=145 ms

--- 10.77.0.2 ping statistics ---
4 packets transmitted, 3 received, 25% packet loss, time 603ms
rtt min/avg/max/mdev = 19.800/61.700/145.000/58.900 ms
"""

IPERF_CONSOLE = """[  5]   9.00-10.00  sec  1.10 GBytes  9420 Mbits/sec
- - - - - - - - - - - - - - - - - - - - - - - - -
[SUM]   0.00-10.00  sec  10.9 GBytes  9412 Mbits/sec  12             sender
[SUM]   0.00-10.04  sec  10.9 GBytes  9377 Mbits/sec                  receiver
NICVM-RESULT job=iperf-client host=10.77.0.1 streams=4 reverse=0 mbps=9377 status=0
"""


class Parsing(unittest.TestCase):
    def test_cpu_list(self):
        self.assertEqual(run.cpu_list("0-1"), [0, 1])
        self.assertEqual(run.cpu_list("4-5,0,2"), [0, 2, 4, 5])
        self.assertEqual(run.cpu_list("3"), [3])
        for bad in ("", "a", "1-", "-1", "2-1", "0,,1", "1.5"):
            with self.assertRaises(ValueError, msg=bad):
                run.cpu_list(bad)

    def test_confine_cpus_errors_name_the_option(self):
        self.assertIn("--cpus", run.confine_cpus("x"))
        self.assertIn("not available", run.confine_cpus("100000"))
        mine = sorted(os.sched_getaffinity(0))
        self.assertIsNone(run.confine_cpus(",".join(map(str, mine))))  # the same set: no change
        self.assertEqual(sorted(os.sched_getaffinity(0)), mine)

    def test_ping_rtts(self):
        self.assertEqual(run.ping_rtts(PING), [20.3, 19.8, 145.0])
        self.assertEqual(run.ping_rtts("connect: Network is unreachable\n"), [])

    def test_rtt_stats(self):
        s = run.rtt_stats([5.0, 1.0, 3.0, 2.0, 4.0])
        self.assertEqual((s["rtt_min_ms"], s["rtt_avg_ms"], s["rtt_p99_ms"]), (1.0, 3.0, 5.0))
        thirty = [float(i) for i in range(30, 0, -1)]
        self.assertEqual(run.rtt_stats(thirty)["rtt_p99_ms"], 30.0)  # nearest rank of 30

    def test_qemu_query_stats(self):
        reply = [{"provider": "kvm", "qom-path": "/machine/unattached/device[0]",
                  "stats": [{"name": "exits", "value": 100}, {"name": "mmio_exits", "value": 10},
                            {"name": "io_exits", "value": 5},
                            {"name": "halt_poll_fail_hist", "value": [0, 1, 2]}]},
                 {"provider": "kvm", "qom-path": "/machine/unattached/device[1]",
                  "stats": [{"name": "exits", "value": 7}, {"name": "mmio_exits", "value": 1}]}]
        self.assertEqual(run.kvm_exit_totals("qemu", reply),
                         {"exits": 107, "mmio_exits": 11, "io_exits": 5})

    def test_nicvm_query_stats(self):
        reply = {"vcpus": [{"vcpu": 0, "exits": {"MMIO": 3}, "kvm": {"exits": 9, "mmio_exits": 3}},
                           {"vcpu": 1, "kvm": {"exits": 1, "io_exits": 1}}]}
        self.assertEqual(run.kvm_exit_totals("nicvm", reply),
                         {"exits": 10, "mmio_exits": 3, "io_exits": 1})
        self.assertIsNone(run.kvm_exit_totals("nicvm", None))
        self.assertIsNone(run.kvm_exit_totals("qemu", []))

    def test_event_loop_per_packet(self):
        """nicvm's query-stats carries its event loop's counters; QEMU's has none, so its
        per-packet figures are exits only."""
        def reply(exits, iters, busy):
            return {"vcpus": [{"kvm": {"exits": exits, "mmio_exits": 1, "io_exits": 0}}],
                    "event_loop": {"iterations": iters, "busy_ns": busy, "sources": []}}
        before = run.kvm_exit_totals("nicvm", reply(100, 1000, 5000000))
        after = run.kvm_exit_totals("nicvm", reply(300, 1150, 8000000))
        pp = run.per_packet(before, after, 100, "64")
        self.assertEqual(pp["exits_per_pkt_64"], 2.0)
        self.assertEqual(pp["loop_wakeups_per_pkt_64"], 1.5)
        self.assertEqual(pp["loop_busy_us_per_pkt_64"], 30.0)
        q = run.kvm_exit_totals("qemu", [{"stats": [{"name": "exits", "value": 7}]}])
        self.assertNotIn("loop_wakeups_per_pkt_64", run.per_packet(q, q, 10, "64"))
        rows = run.summarize({("virtio-net", "tap"): [cell(pp, {"exits_per_pkt_64": 2.5})]})
        loop = [r for r in rows if r["metric"] == "loop_wakeups_per_pkt_64"][0]
        self.assertNotIn("qemu", loop)
        self.assertNotIn("ratio", loop)

    def test_iperf_result_line(self):
        self.assertEqual(run.iperf_mbps(IPERF_CONSOLE), 9377.0)
        failed = IPERF_CONSOLE.replace("mbps=9377 status=0", "mbps=0 status=1")
        self.assertIsNone(run.iperf_mbps(failed))
        no_figure = IPERF_CONSOLE.replace("mbps=9377", "mbps=0")
        self.assertIsNone(run.iperf_mbps(no_figure))
        self.assertIsNone(run.iperf_mbps(IPERF_CONSOLE.replace("status=0", "status=10")))
        self.assertIsNone(run.iperf_mbps("Run /init as init process\n"))


def cell(nicvm, qemu):
    return {"nicvm": nicvm, "qemu": qemu}


class Report(unittest.TestCase):
    def test_summary_min_median_ratio(self):
        cells = {("e1000", "tap"): [cell({"boot_s": 40.0, "rtt_min_ms": 20.0},
                                         {"boot_s": 60.0}),
                                    cell({"boot_s": 44.0, "rtt_min_ms": 22.0},
                                         {"boot_s": 50.0}),
                                    cell({"boot_s": 42.0, "error": "x"}, {"boot_s": 55.0})]}
        rows = {r["metric"]: r for r in run.summarize(cells)}
        boot = rows["boot_s"]
        self.assertEqual(boot["nicvm"], {"min": 40.0, "median": 42.0, "raw": [40.0, 44.0, 42.0]})
        self.assertEqual(boot["qemu"]["median"], 55.0)
        self.assertAlmostEqual(boot["ratio"], 42.0 / 55.0)
        self.assertNotIn("ratio", rows["rtt_min_ms"])  # QEMU has no figure: no ratio
        self.assertNotIn("dhcp_s", rows)  # nobody measured it: no row

    def test_markdown(self):
        meta = {"host": "h", "date": "d", "nicvm": "abc", "qemu": "QEMU 7.2", "kernel": "6.1",
                "reps": 3, "jobs": 1, "cpus": 2, "pvm": True, "seconds": 10,
                "command": "bench/run"}
        rows = run.summarize({("virtio-net", "user"): [cell({"dhcp_s": 0.5}, {"dhcp_s": 1.0})]})
        md = run.markdown(meta, rows, [], {"skipped": "guest user space cannot run under PVM"})
        self.assertIn("| virtio-net | user | DHCP answer after link-up (s) | 0.5 (0.5) | "
                      "1 (1) | 0.5 |", md)
        self.assertIn("iperf3: skipped: guest user space cannot run under PVM", md)
        self.assertIn("Command: `bench/run`", md)
        self.assertIn("1 cell(s) at a time on 2 CPUs,", md)
        md = run.markdown(dict(meta, host_cpus=16), rows, [], {"skipped": "x"})
        self.assertIn("1 cell(s) at a time on 2 of 16 CPUs,", md)
        self.assertIn("VM benchmarks: not run.", run.markdown(meta, [], [], {"skipped": "x"}))

    def test_device_rows(self):
        d = {"bench": "net", "backend": "tap", "dir": "tx", "size": 65536, "offload": True,
             "vnet_hdr": False, "pps": 30834, "gbps": 15.9, "ratio": 0.625,
             "ref": "write() of the same segments on the same tap"}
        self.assertEqual(run.device_case(d), "tap tx 65536 B TSO no vnet header")
        md = run.markdown({"host": "h", "date": "d", "nicvm": "a", "qemu": "q", "kernel": "k",
                           "reps": 1, "jobs": 1, "cpus": 2, "pvm": False, "seconds": 1,
                           "command": "c"}, [], [d, {"bench": "net", "skipped": "not root"}],
                          {"rows": []})
        self.assertIn("| net | tap tx 65536 B TSO no vnet header | 0.0308 | 15.9 | 0.625 | "
                      "write() of the same segments on the same tap |", md)
        self.assertIn("| net | skipped: not root |", md)

    def test_device_rows_stream(self):
        """net_bench's stream cases: no vnet_hdr key (the backend has no header); a skipped line
        for tap and user may come before them when net_bench runs without root."""
        tx = {"bench": "net", "backend": "stream", "dir": "tx", "size": 65536, "offload": True,
              "pps": 3500, "gbps": 1.8, "ratio": 0.9,
              "ref": "writev() of the same segments on a unix stream socket"}
        rx = {"bench": "net", "backend": "stream", "dir": "rx", "size": 64, "offload": False,
              "pps": 20000000, "gbps": 10.24, "ratio": 0.95,
              "ref": "read() on a unix stream socket"}
        self.assertEqual(run.device_case(tx), "stream tx 65536 B TSO")
        self.assertEqual(run.device_case(rx), "stream rx 64 B")
        md = run.markdown({"host": "h", "date": "d", "nicvm": "a", "qemu": "q", "kernel": "k",
                           "reps": 1, "jobs": 1, "cpus": 2, "pvm": False, "seconds": 1,
                           "command": "c"}, [],
                          [{"bench": "net", "skipped": "needs root"}, tx, rx], {"rows": []})
        self.assertIn("| net | skipped: needs root |", md)
        self.assertIn("| net | stream tx 65536 B TSO | 0.0035 | 1.8 | 0.9 | "
                      "writev() of the same segments on a unix stream socket |", md)
        self.assertIn("| net | stream rx 64 B | 20 | 10.2 | 0.95 | "
                      "read() on a unix stream socket |", md)

    def test_iperf_table(self):
        rows = [{"nic": "e1000", "direction": "guest to host", "streams": 4,
                 "nicvm": {"min": 900.0, "median": 950.0, "raw": [900.0, 950.0, 990.0]},
                 "qemu": {"min": 800.0, "median": 850.0, "raw": [800.0, 850.0, 860.0]},
                 "ratio": 950.0 / 850.0}]
        md = "\n".join(run.iperf_markdown({"rows": rows}))
        self.assertIn("| e1000 | guest to host | 4 | 950 (900) | 850 (800) | 1.12 |", md)


class Cells(unittest.TestCase):
    def test_parallel_cells_keep_their_order(self):
        """--jobs: cells finish in any order; each (NIC, backend) keeps its repetitions in
        order, every cell gets its own id (namespaces and sockets apart)."""
        import threading
        import time
        seen, lock = [], threading.Lock()

        def fake_cell(nic, backend, rep, quick, cell_id):
            time.sleep(0.02 * (3 - rep))  # later repetitions finish first
            with lock:
                seen.append(cell_id)
            return {"nicvm": {"rep": rep, "nic": nic, "backend": backend}, "qemu": {}}

        real, real_log = run.run_cell, run.log
        run.run_cell, run.log = fake_cell, lambda msg: None
        try:
            cells = run.run_cells(["virtio-net", "e1000"], ["tap", "user"], 3, False, 4)
        finally:
            run.run_cell, run.log = real, real_log
        self.assertEqual(sorted(seen), list(range(12)))
        self.assertEqual(list(cells), [("virtio-net", "tap"), ("virtio-net", "user"),
                                       ("e1000", "tap"), ("e1000", "user")])
        for (nic, backend), reps in cells.items():
            self.assertEqual([r["nicvm"]["rep"] for r in reps], [0, 1, 2])
            self.assertTrue(all(r["nicvm"]["nic"] == nic and r["nicvm"]["backend"] == backend
                                for r in reps))


if __name__ == "__main__":
    unittest.main()
