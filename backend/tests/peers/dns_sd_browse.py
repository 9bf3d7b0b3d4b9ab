"""Browses for _osc._udp services with python-zeroconf on 127.0.0.1 for up to
10 s and prints each found: name, port, addresses and TXT properties."""
import sys, time
from zeroconf import Zeroconf, ServiceBrowser
zc = Zeroconf(interfaces=["127.0.0.1"])
found = {}
class Listener:
    def add_service(self, zc, type_, name):
        found[name] = zc.get_service_info(type_, name, timeout=3000)
    def update_service(self, zc, type_, name):
        pass
    def remove_service(self, zc, type_, name):
        pass
ServiceBrowser(zc, "_osc._udp.local.", Listener())
deadline = time.time() + 10
while not any(found.values()) and time.time() < deadline:
    time.sleep(0.1)
for name, info in found.items():
    if info:
        print(name, info.port, sorted(info.parsed_addresses()), {k.decode(): v.decode() for k, v in info.properties.items()})
zc.close()
