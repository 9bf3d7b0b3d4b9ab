// osc.js (npm `osc`) against Patchbay over UDP, TCP (osc.js frames with
// SLIP) and a WebSocket in binary frames: on each, add two Values, connect
// the first to the second, set the first by a bundle, read the second back.
// Prints "TRANSPORT ADDRESS ARGS" per reply.
// Usage: node oscjs_client.js OSC_PORT HTTP_PORT
const osc = require("osc");
const [oscPort, httpPort] = process.argv.slice(2).map(Number);

function drive(name, port) {
  return new Promise((resolve, reject) => {
    const expected = 6;
    let got = 0;
    const timer = setTimeout(() => reject(new Error(`${name}: ${got} of ${expected} replies`)), 5000);
    port.on("message", (m) => {
      console.log(name, m.address, JSON.stringify(m.args));
      if (++got === expected) {
        clearTimeout(timer);
        port.close();
        resolve();
      }
    });
    port.on("error", (e) => reject(e));
    port.on("ready", () => {
      const [v, w] = [`v_${name}`, `w_${name}`];
      port.send({ address: "/patch/add-transform", args: ["Value", v] });
      port.send({ address: "/patch/add-transform", args: ["Value", w] });
      port.send({ address: `/patch/${v}/out/connect`, args: [`/patch/${w}/in`] });
      port.send({ timeTag: osc.timeTag(0), packets: [
        { address: `/patch/${v}/in`, args: [{ type: "i", value: 42 }] },
        { address: `/patch/${v}/in`, args: [{ type: "i", value: 43 }] },
      ] });
      // After the bundle's replies: the value it left, through the wire.
      setTimeout(() => port.send({ address: `/patch/${w}/value/current-value`, args: [] }), 200);
    });
    port.open();
  });
}

(async () => {
  await drive("udp", new osc.UDPPort({ localAddress: "127.0.0.1", localPort: 0, remoteAddress: "127.0.0.1", remotePort: oscPort }));
  await drive("tcp", new osc.TCPSocketPort({ address: "127.0.0.1", port: oscPort }));
  await drive("ws", new osc.WebSocketPort({ url: `ws://127.0.0.1:${httpPort}/v1/osc/binary` }));
})().catch((e) => { console.error(e.message); process.exit(1); });
