"""python-oscquery against Patchbay: finds the server by DNS-SD
(_oscjson._tcp on 127.0.0.1), reads HOST_INFO, adds a Sinewave over OSC
(python-osc, to the port HOST_INFO names) and reads the new node back with
OSCQueryClient. Prints one line per fact for the Rust test to check."""
import sys, time
from zeroconf import Zeroconf, ServiceBrowser
from pythonosc.udp_client import SimpleUDPClient
from pythonoscquery.osc_query_client import OSCQueryClient

zc = Zeroconf(interfaces=["127.0.0.1"])
found = {}
class Listener:
    def add_service(self, zc, type_, name):
        found[name] = zc.get_service_info(type_, name, timeout=3000)
    def update_service(self, zc, type_, name):
        pass
    def remove_service(self, zc, type_, name):
        pass
ServiceBrowser(zc, "_oscjson._tcp.local.", Listener())
deadline = time.time() + 10
while not any(found.values()) and time.time() < deadline:
    time.sleep(0.1)
info = next((i for i in found.values() if i), None)
if info is None:
    sys.exit("no _oscjson._tcp service found")
print("service", info.name, info.port)
client = OSCQueryClient(info)
host = client.get_host_info()
print("host", host.name, host.osc_port, host.osc_transport)
SimpleUDPClient("127.0.0.1", host.osc_port).send_message("/patch/add-transform", ["Sinewave", "sine0"])
node = None
deadline = time.time() + 5
while node is None and time.time() < deadline:
    node = client.query_node("/patch/sine0/freq")
    time.sleep(0.05)
print("node", node.full_path, node.value, node.access.name, node.description)
print("missing", client.query_node("/patch/nothing"))
root = client.query_node("/")
print("root", sorted(c.full_path for c in root.contents)[:3])
zc.close()
