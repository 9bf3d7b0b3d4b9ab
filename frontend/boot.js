// Starts what the dashboard's first render waits for while its wasm is still
// downloading and compiling: the admission check, the notification socket
// and, once that socket is open (so that no change can fall between the two),
// the patch and its ports. The wasm adopts all of it (src/boot.rs); whatever
// fails here, it simply does again itself.
(() => {
  let token = '';
  try {
    token = sessionStorage.getItem('patchbay.token') || '';
  } catch (_) {
    // No storage (a sandboxed frame): no token, as in the wasm.
  }
  const headers = token ? { Authorization: 'Bearer ' + token } : {};
  // Bytes, not text: the wasm copies bytes in at once, where a string it
  // would convert character by character.
  const bytes = (path) => fetch(path, { headers }).then((r) => (r.ok ? r.arrayBuffer() : Promise.reject(r.status)));
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const url = `${scheme}://${location.host}/v1/notifications/ws`;
  const socket = token ? new WebSocket(url, ['patchbay', 'patchbay.token.' + token]) : new WebSocket(url);
  // Notifications that arrive before the wasm takes the socket over, in order.
  const held = [];
  socket.onmessage = (e) => held.push(e.data);
  const boot = { socket, held };
  // Each answer is both a promise, for a wasm that starts first, and a plain
  // field once it is in, which a wasm that starts later reads at once: its
  // first render then shows the patch, without a frame of waiting between.
  boot.patch = new Promise((resolve, reject) => {
    socket.onopen = () => Promise.all([bytes('/v1/engine/patch'), bytes('/v1/engine/ports')]).then(resolve, reject);
    socket.onclose = () => reject('the notification socket closed');
  });
  // `changedBefore`: how many changes to the patch came while it was fetched
  // (pings and lab events do not count).
  const changes = () => held.filter((m) => m.includes('"engine.changed"') && JSON.parse(m).action === 'engine.changed');
  boot.patch.then((json) => (boot.patchNow = { json, changedBefore: changes().length }), () => {});
  boot.admitted = fetch('/v1/version', { headers }).then((r) => r.status !== 401);
  boot.admitted.then((yes) => (boot.admittedNow = yes), () => {});
  window.patchbayBoot = boot;
})();
