// The graphical console page: noVNC (from npm) on a WebSocket the daemon bridges to QEMU's VNC
// server. Scales to the page; reconnects after a drop or a page reload, once the guest runs.
import RFB from "/assets/novnc/core/rfb.js";
import { whenReady } from "/assets/display.js";

const screen = document.getElementById("screen");
const status = document.getElementById("vnc-status");
async function connect() {
  await whenReady(screen.dataset.ws, status);
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + screen.dataset.ws;
  const rfb = new RFB(screen, url);
  rfb.scaleViewport = true;
  rfb.addEventListener("connect", () => { status.textContent = "connected"; status.className = "ok"; window.vireoVnc = rfb; });
  rfb.addEventListener("disconnect", () => {
    status.textContent = "disconnected; reconnecting…";
    status.className = "warn";
    window.vireoVnc = null;
    setTimeout(connect, 1000);
  });
}
connect();
