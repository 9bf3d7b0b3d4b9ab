"""Drives the real GNS3 GUI's own client code (gns3-gui 1.3.13) against a
server, headless, as its widgets would: connect, a new project, two VPCS
nodes made by the VPCS module (so each gets the GUI's `set pcname %h`), a
link between them, start, the console (banner, the node's name as prompt,
a ping across the link), save, stop, delete, close.

    python gns3_gui_client.py local|remote HOST PORT WORKDIR [SERVER_BINARY]

In local mode the GUI connects to a local server already running at
HOST:PORT, or, as the GUI does at start-up when none is, starts
SERVER_BINARY itself (`--host=HOST --port=PORT --local --log=FILE`) and
shuts it down when the project closes.

Run it with the venv of ../../../shared/peers/gns3-gui/setup_env.sh and its
pyqt4shim first on PYTHONPATH. Prints one line per step; exits 0 when every
step did what the GUI expects, 1 with "FAIL: ..." otherwise.
"""

import json
import os
import socket
import sys
import time
import urllib.request

mode, host, port, workdir = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
server_binary = sys.argv[5] if len(sys.argv) > 5 else ""
assert mode in ("local", "remote"), mode

# A private home with the GUI's settings: which server, and nothing that
# reaches the internet (crash reports, statistics, update checks).
os.environ["HOME"] = workdir
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
config_dir = os.path.join(workdir, ".config", "GNS3")
os.makedirs(config_dir, exist_ok=True)
settings = {
    "version": "1.3.13",
    "type": "settings",
    "LocalServer": {
        "host": host if mode == "local" else "127.0.0.1",
        "port": port if mode == "local" else 1,
        "path": server_binary,
        "auto_start": True,
        "report_errors": False,
        "projects_path": os.path.join(workdir, "GNS3", "projects"),
        "images_path": os.path.join(workdir, "GNS3", "images"),
        "user": "gns3",
        "password": "not-checked-on-loopback",
    },
    "RemoteServers": [{"host": host, "port": port}] if mode == "remote" else [],
    "MainWindow": {"check_for_update": False, "send_stats": False},
}
with open(os.path.join(config_dir, "gns3_gui.conf"), "w") as f:
    json.dump(settings, f)

import logging  # noqa: E402

logging.basicConfig(level=logging.DEBUG if os.environ.get("GNS3_DEBUG") else logging.WARNING)

from gns3.qt import QtCore, QtGui  # noqa: E402  (after HOME is set)

app = QtGui.QApplication([])
QtCore.QCoreApplication.setOrganizationName("GNS3")
QtCore.QCoreApplication.setApplicationName("GNS3")

from gns3.link import Link  # noqa: E402
from gns3.modules.vpcs import VPCS  # noqa: E402
from gns3.modules.vpcs.vpcs_device import VPCSDevice  # noqa: E402
from gns3.node import Node  # noqa: E402
from gns3.project import Project  # noqa: E402
from gns3.servers import Servers  # noqa: E402

base = "http://{}:{}/v1".format(host, port)


def fail(what):
    print("FAIL: " + what)
    sys.stdout.flush()
    sys.exit(1)


def wait(condition, what, seconds=20):
    deadline = time.time() + seconds
    while not condition():
        if time.time() > deadline:
            fail(what)
        app.processEvents(QtCore.QEventLoop.AllEvents, 50)
        time.sleep(0.01)
    print("ok: " + what)
    sys.stdout.flush()


def server_json(path):
    with urllib.request.urlopen(base + path, timeout=5) as r:
        return json.loads(r.read().decode())


servers = Servers.instance()
if mode == "local":
    server = servers.localServer()
    # The GUI's start-up (MainWindow.startupLoading): is a local GNS3 server
    # already running there? If not, it starts its own from its settings' path.
    if server.isLocalServerRunning():
        print("ok: the GUI finds a running local server")
    elif not server_binary:
        fail("the GUI does not take the server for a running local server")
    else:
        # startupLoading calls initLocalServer first, which only checks the path and
        # port, and would build the main window for its error dialogs.
        if not servers.startLocalServer():
            fail("the GUI could not start " + server_binary)
        wait(lambda: server.isLocalServerRunning(), "the GUI started its local server and connected")
else:
    server = servers.getRemoteServer(host, port)

errors = []
project = Project()
project.setName("gui-lab")
project.setTemporary(False)
project.setFilesDir(os.path.join(workdir, "GNS3", "projects", "gui-lab"))

module = VPCS.instance()
nodes = []
for _ in range(2):
    node = module.createNode(VPCSDevice, server, project)
    node.server_error_signal.connect(lambda node_id, message: errors.append(message))
    node.error_signal.connect(lambda node_id, message: errors.append(message))
    module.setupNode(node, None)
    nodes.append(node)
wait(lambda: errors or all(n.initialized() for n in nodes), "two VPCS nodes created (connect, project, VMs)")
if errors:
    fail("the server refused: " + "; ".join(errors))
pc1, pc2 = nodes
names = [n.name() for n in nodes]
if names != ["PC1", "PC2"]:
    fail("node names {}".format(names))
if mode == "local" and not project.filesDir().startswith(server_json("/projects/" + project.id())["location"]):
    fail("the GUI did not adopt the server's project path: {}".format(project.filesDir()))

link = Link(pc1, pc1.ports()[0], pc2, pc2.ports()[0])
linked = []
link.add_link_signal.connect(lambda link_id: linked.append(link_id))
wait(lambda: errors or linked, "linked (UDP ports and NIOs)")
if errors:
    fail("; ".join(errors))
vms = {vm["name"]: vm for vm in server_json("/projects/{}/vpcs/vms".format(project.id()))}
a, b = vms["PC1"]["nio"], vms["PC2"]["nio"]
if (a["lport"], a["rport"]) != (b["rport"], b["lport"]):
    fail("the tunnels do not face each other: {} {}".format(a, b))

for node in nodes:
    node.start()
wait(lambda: errors or all(n.status() == Node.started for n in nodes), "both started")
if errors:
    fail("; ".join(errors))


class Console:
    """A telnet client of a node's console, as the GUI's terminal is."""

    def __init__(self, console_port):
        self.sock = socket.create_connection((host, console_port), timeout=10)
        self.seen = b""

    def expect(self, text):
        deadline = time.time() + 15
        while text.encode() not in self.seen:
            if time.time() > deadline:
                fail("no {!r} on the console; it showed {!r}".format(text, self.seen[-500:]))
            chunk = self.sock.recv(4096)
            if not chunk:
                fail("the console closed; it showed {!r}".format(self.seen[-500:]))
            self.seen += chunk
        out, self.seen = self.seen, self.seen[self.seen.index(text.encode()) + len(text):]
        return out.decode(errors="replace")

    def run(self, line, prompt):
        """Types a line; what it printed up to the next prompt (after the echo)."""
        self.sock.sendall(line.encode() + b"\r\n")
        self.expect(line)
        return self.expect(prompt)


c1, c2 = Console(pc1.console()), Console(pc2.console())
c1.expect("Welcome to Virtual PC Simulator")
c1.sock.sendall(b"\r\n")
c1.expect("PC1>")
c2.sock.sendall(b"\r\n")
c2.expect("PC2>")
print("ok: the consoles show the banner and each node's name as prompt")
c1.run("ip 10.0.0.1/24", "PC1>")
c2.run("ip 10.0.0.2/24", "PC2>")
out = c1.run("ping 10.0.0.2 -c 2", "PC1>")
if "84 bytes from 10.0.0.2" not in out:
    fail("no ping reply across the link: {!r}".format(out))
print("ok: PC1 pings PC2 across the link")
c1.sock.close()
c2.sock.close()

committed = []
server.post("/projects/{}/commit".format(project.id()), lambda result, error=False, **kw: committed.append(error), body={})
wait(lambda: committed, "saved (commit)")
if committed != [False]:
    fail("commit failed")

for node in nodes:
    node.stop()
wait(lambda: errors or all(n.status() == Node.stopped for n in nodes), "both stopped")
deleted = []
pc2.deleted_signal.connect(lambda: deleted.append(True))
pc2.delete()
wait(lambda: errors or deleted, "PC2 deleted")
if len(server_json("/projects/{}/vpcs/vms".format(project.id()))) != 1:
    fail("the server still has PC2")

# Whether the GUI started the local server: then closing the project shuts it down.
started_by_gui = mode == "local" and servers.localServerIsRunning()
project.close(local_server_shutdown=(mode == "local"))
wait(lambda: project.closed(), "project closed")
if errors:
    fail("; ".join(errors))
if started_by_gui:
    # Project.close sent /server/shutdown; on exit the GUI waits for the process.
    servers.stopLocalServer(wait=True)
    if servers.localServerIsRunning():
        fail("the local server the GUI started is still running")
    print("ok: the local server the GUI started has stopped")
elif mode == "local":
    # What Project.close sends instead when the GUI started the local server itself.
    answered = []
    server.post("/server/shutdown", lambda result, error=False, **kw: answered.append(error))
    wait(lambda: answered, "the local server asked to shut down")
    if answered != [False]:
        fail("shutdown refused")
print("PASS")
