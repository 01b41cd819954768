// The graphical console page: noVNC (from npm) on a WebSocket the daemon bridges to QEMU's VNC
// server. Scales to the page; reconnects after a drop or a page reload.
import RFB from "/assets/novnc/core/rfb.js";

const screen = document.getElementById("screen");
const status = document.getElementById("vnc-status");
function connect() {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + screen.dataset.ws;
  const rfb = new RFB(screen, url);
  rfb.scaleViewport = true;
  rfb.addEventListener("connect", () => { status.textContent = "connected"; status.className = "ok"; window.vireoVnc = rfb; });
  rfb.addEventListener("disconnect", () => {
    status.textContent = "disconnected; reconnecting…";
    status.className = "warn";
    setTimeout(connect, 1000);
  });
}
connect();
