"""The sandbox binds 127.0.0.1 only: every listening TCP socket and every bound UDP socket of its process tree
(the sandbox process, its threads' servers such as each cluster's Kubernetes API, and Azurite under node) is on
127.0.0.1, found from /proc (the process's socket fds joined with /proc/net/{tcp,tcp6,udp,udp6})."""

from __future__ import annotations

import ipaddress
import os
import sys
import urllib.parse
from pathlib import Path

import pytest

from sandbox.client import SandboxProcess
from tools.cloud_actions import wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]

TCP_LISTEN = "0A"
LOOPBACK = ipaddress.ip_address("127.0.0.1")


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def decode_address(hex_address: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    # /proc/net prints the address as 32-bit words in host byte order (little endian here)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(words)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address, int(port, 16)


def bound_sockets(
    pid: int, inodes: set[str]
) -> list[tuple[str, ipaddress.IPv4Address | ipaddress.IPv6Address, int]]:
    """(protocol, address, port) of the listening TCP and bound UDP sockets among ``inodes``."""
    found = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/{pid}/net/{proto}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if inode in inodes and (proto.startswith("udp") or state == TCP_LISTEN):
                address, port = decode_address(local)
                found.append((proto, address, port))
    return found


def sandbox_sockets(
    box: SandboxProcess,
) -> list[tuple[str, ipaddress.IPv4Address | ipaddress.IPv6Address, int]]:
    assert box.proc is not None
    return [s for pid in process_tree(box.proc.pid) for s in bound_sockets(pid, socket_inodes(pid))]


def test_every_listening_socket_of_the_sandbox_is_on_loopback(sandbox: SandboxProcess) -> None:
    before = {port for _, _, port in sandbox_sockets(sandbox)}
    # an adopted application deploys a cluster at once, which starts that cluster's Kubernetes API
    sandbox.add_customer(
        name="bindcheck", adopt={"applicationName": "bindcheck-ama", "aksName": "bindcheckaks"}
    )
    wait_for(lambda: {port for _, _, port in sandbox_sockets(sandbox)} - before, timeout_s=30)
    sockets = sandbox_sockets(sandbox)
    wrong = [s for s in sockets if s[1] != LOOPBACK]
    assert not wrong, f"sandbox sockets not on 127.0.0.1: {wrong}"
    listening = {port for proto, _, port in sockets if proto.startswith("tcp")}
    urls = [u for u in sandbox.state()["urls"].values() if str(u).startswith("http")]
    for url in urls:
        assert urllib.parse.urlsplit(url).port in listening, f"{url} is not among the sockets found"
    assert sandbox.proc is not None and len(process_tree(sandbox.proc.pid)) >= 2, (
        "Azurite (node) is in the tree"
    )
    print(f"\nfigure sandbox_sockets_checked {len(sockets)}, all on 127.0.0.1")
