// The serial console page: xterm.js (from npm) on a WebSocket to the daemon, which pumps the
// guest's serial pty. Reconnects after a drop or a page reload; the terminal follows the window size.
(function () {
  const box = document.getElementById("terminal");
  const status = document.getElementById("console-status");
  const term = new Terminal({ cursorBlink: true, convertEol: false, fontSize: 14, scrollback: 5000 });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(box);
  fit.fit();
  window.addEventListener("resize", () => fit.fit());
  window.vireoTerm = term;   // for tests: what the terminal shows
  let ws = null;
  const enc = new TextEncoder();
  function connect() {
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + box.dataset.ws;
    ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => { status.textContent = "connected"; status.className = "ok"; term.focus(); };
    ws.onmessage = (e) => term.write(new Uint8Array(e.data));
    ws.onclose = () => {
      status.textContent = "disconnected; reconnecting…";
      status.className = "warn";
      setTimeout(connect, 1000);
    };
  }
  term.onData((d) => { if (ws && ws.readyState === WebSocket.OPEN) ws.send(enc.encode(d)); });
  connect();
})();
