// The graphical console page for a SPICE display: spice-html5 (from npm) on WebSockets the
// daemon bridges to QEMU's SPICE server, one per SPICE channel (main, display, inputs, cursor,
// playback), as the client opens them. Reconnects after a drop or a page reload, once the guest runs.
import * as SpiceHtml5 from "/assets/spice/main.js";
import { whenReady } from "/assets/display.js";

const screen = document.getElementById("spice-screen");
const status = document.getElementById("spice-status");
async function connect() {
  await whenReady(screen.dataset.ws, status);
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + screen.dataset.ws;
  let conn;
  const retry = (why) => {
    status.textContent = `${why}; reconnecting…`;
    status.className = "warn";
    window.vireoSpice = null;
    try { conn?.stop(); } catch { /* already down */ }
    setTimeout(connect, 1000);
  };
  try {
    conn = new SpiceHtml5.SpiceMainConn({
      uri: url,
      password: screen.dataset.password || "",
      screen_id: "spice-screen",
      onsuccess: () => { status.textContent = "connected"; status.className = "ok"; window.vireoSpice = conn; },
      onerror: (e) => retry(e?.message ? `disconnected (${e.message})` : "disconnected"),
      onagent: () => SpiceHtml5.resize_helper(conn),
    });
  } catch (e) {
    retry(`cannot connect (${e.message})`);
  }
}
connect();
