// Shared by the graphical console pages: wait until the guest runs with a display server to
// bridge to (asking the daemon every second, with a request that always succeeds), so a page
// left open while its guest is off opens no WebSocket that would be refused.
export async function whenReady(ws, status) {
  const ready = ws.replace(/\/ws$/, "/ready");
  for (;;) {
    let why;
    try {
      const r = await fetch(ready, { cache: "no-store" });
      why = r.ok ? await r.text() : `the console answered ${r.status}`;
    } catch (e) {
      why = `the console is not reachable (${e.message})`;
    }
    if (!why) return;
    status.textContent = `disconnected (${why.replace(/\.$/, "")}); reconnecting when it runs…`;
    status.className = "warn";
    await new Promise((done) => setTimeout(done, 1000));
  }
}
