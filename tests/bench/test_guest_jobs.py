#!/usr/bin/env python3
"""The guest image's iperf3 and ping jobs, run for real without KVM: the guest-images kernel and
initramfs boot under QEMU's TCG emulator with user-mode networking, the guest's /init runs
iperf3 against a host iperf3 (and serves one), and bench/run's own parser reads the result
line from the console. On a PVM host guest user space cannot run under KVM, so bench/run's
iperf3 cells are skipped there; this checks the guest half of that path (the image, its
/init, the NICVM-RESULT line and bench/run's reading of it) on any machine.

usage: test_guest_jobs.py PATH/TO/bench/run GUEST_IMAGES_DIR
Skips (exit 77) without qemu-system-x86_64 (NICVM_QEMU names another), iperf3 or the image."""
import importlib.machinery
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import unittest

RUN, IMAGES = (sys.argv.pop(1), sys.argv.pop(1)) if len(sys.argv) > 2 else ("bench/run",
                                                                            "guest-images/out")
_loader = importlib.machinery.SourceFileLoader("bench_run", RUN)
_spec = importlib.util.spec_from_loader("bench_run", _loader)
run = importlib.util.module_from_spec(_spec)
_loader.exec_module(run)

QEMU = shutil.which(os.environ.get("NICVM_QEMU", "qemu-system-x86_64"))
IPERF3 = shutil.which("iperf3")
TIMEOUT = 180  # TCG boots in seconds; iperf3 runs 2 s; allow a loaded machine


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The two NIC models of bench/run's iperf3 cells, as QEMU boards: virtio-net over virtio-mmio
# on microvm, e1000 on the PC's PCI bus.
BOARDS = {"virtio-net": ("microvm,acpi=off", "virtio-net-device"), "e1000": ("pc", "e1000")}


def boot(append, netdev="user,id=n0", nic="virtio-net"):
    """Boots the job image under QEMU's TCG; returns its console once /init reboots."""
    machine, device = BOARDS[nic]
    cmd = [QEMU, "-M", machine, "-accel", "tcg", "-cpu", "qemu64", "-m", "256",
           "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio",
           "-kernel", os.path.join(IMAGES, "vmlinux"),
           "-initrd", os.path.join(IMAGES, "initramfs.cpio.gz"),
           "-append", "console=ttyS0 " + append,
           "-netdev", netdev, "-device", device + ",netdev=n0"]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, errors="replace", timeout=TIMEOUT)
    return r.stdout


class GuestJobs(unittest.TestCase):
    def check_common(self, console):
        ready = re.findall(r"^NICVM-READY .*$", console, re.M)
        # One line, for eth0: the kernel's sit0 tunnel is not a NIC to bring up.
        self.assertEqual(len(ready), 1, console)
        self.assertIn("NICVM-READY iface=eth0 ip=10.0.2.15/24 mac=52:54:00:12:34:56", ready[0])
        self.assertIn("NICVM-DONE status=0", console)

    def client(self, streams, reverse, nic="virtio-net"):
        port = free_port()
        server = subprocess.Popen([IPERF3, "-s", "-1", "-p", str(port), "-B", "127.0.0.1"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # libslirp maps the guest's 10.0.2.2 to the host's loopback.
            console = boot("nicvm.job=iperf-client:10.0.2.2 nicvm.time=2 nicvm.port=%d "
                           "nicvm.streams=%d%s" % (port, streams,
                                                   " nicvm.reverse=1" if reverse else ""),
                           nic=nic)
        finally:
            server.kill()
            server.wait()
        self.check_common(console)
        line = re.search(r"^NICVM-RESULT job=iperf-client .*$", console, re.M)
        self.assertIsNotNone(line, console)
        self.assertIn("host=10.0.2.2 streams=%d reverse=%d " % (streams, int(reverse)),
                      line.group(0))
        mbps = run.iperf_mbps(console)  # what bench/run reads on a hardware KVM host
        self.assertIsNotNone(mbps, console)
        self.assertGreater(mbps, 0)
        if streams > 1:
            self.assertIn("[SUM]", console)

    def test_client_one_stream(self):
        self.client(1, False)

    def test_client_four_streams_reverse(self):
        self.client(4, True)

    def test_client_e1000(self):
        """The same job over the guest kernel's e1000 driver (QEMU's PC board)."""
        self.client(1, False, nic="e1000")

    def test_ping(self):
        """The ping job against libslirp's gateway, which answers echo requests."""
        console = boot("nicvm.job=ping:10.0.2.2 nicvm.count=3")
        self.check_common(console)
        # avg_ms is ping's own figure. It may be 0.000: a TCG guest whose TSC the kernel
        # distrusts times with jiffies, and libslirp answers for its gateway at once. What it
        # must be is a number (the job writes "none" when ping printed no summary).
        m = re.search(r"^NICVM-RESULT job=ping host=10.0.2.2 count=3 loss=0 avg_ms=(\d+\.\d+) "
                      r"status=0$", console, re.M)
        self.assertIsNotNone(m, console)
        self.assertEqual(len(re.findall(r"^64 bytes from 10\.0\.2\.2: seq=\d+ ", console, re.M)),
                         3, console)

    def test_server(self):
        """The iperf-server job, reached through a hostfwd rule."""
        port, gport = free_port(), 5301
        proc = subprocess.Popen(
            [QEMU, "-M", "microvm,acpi=off", "-accel", "tcg", "-cpu", "qemu64", "-m", "256",
             "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio",
             "-kernel", os.path.join(IMAGES, "vmlinux"),
             "-initrd", os.path.join(IMAGES, "initramfs.cpio.gz"),
             "-append", "console=ttyS0 nicvm.job=iperf-server nicvm.port=%d" % gport,
             "-netdev", "user,id=n0,hostfwd=tcp:127.0.0.1:%d-:%d" % (port, gport),
             "-device", "virtio-net-device,netdev=n0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, errors="replace")
        console = ""
        try:
            for line in proc.stdout:  # wait until the guest's server listens
                console += line
                if "NICVM-RESULT job=iperf-server listening=%d" % gport in line:
                    break
            client = subprocess.run([IPERF3, "-c", "127.0.0.1", "-p", str(port), "-t", "2",
                                     "-f", "m"], capture_output=True, text=True, timeout=60)
            console += proc.communicate(timeout=TIMEOUT)[0]  # the guest stops after one test
        finally:
            proc.kill()
            proc.wait()
        self.assertEqual(client.returncode, 0, client.stdout + client.stderr)
        self.assertRegex(client.stdout, r"receiver")
        self.check_common(console)
        self.assertIn("NICVM-RESULT job=iperf-server status=0", console)


if __name__ == "__main__":
    missing = [what for what, ok in (("qemu-system-x86_64", QEMU), ("iperf3", IPERF3),
               ("the guest image in " + IMAGES,
                os.path.exists(os.path.join(IMAGES, "initramfs.cpio.gz")))) if not ok]
    if missing:
        print("SKIP: no %s" % ", ".join(missing))
        sys.exit(77)
    unittest.main()
