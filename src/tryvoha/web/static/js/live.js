// The event stream, read with fetch() rather than EventSource so that the page can see the
// server's heartbeats: a connection that has said nothing for STALL_MS is treated as dead
// (a phone that changed networks, a proxy that hung) instead of being shown as live.
//
// Status goes "connecting" -> "live" -> "offline" -> "live" ... The stream resumes after
// the last seq applied, so nothing declared while the page was away is lost; a "resync"
// (the server's log is behind the page: a replaced store) reloads the whole state.

export const HEARTBEAT_MS = 15000; // the server's heartbeat interval
export const STALL_MS = 20000; // no byte for this long: the connection is dead
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000]; // then every 8 s, with jitter so a restart is not a stampede

export class LiveStream {
  constructor({ url = "/api/v1/events", params = {}, seq, onEvent, onResync, onStatus }) {
    this.url = url;
    this.params = params;
    this.seq = seq;
    this.onEvent = onEvent;
    this.onResync = onResync;
    this.onStatus = onStatus;
    this.status = "connecting";
    this.lastHeard = Date.now(); // when the server last said anything
    this.failures = 0;
    this.retryAt = 0;
    this.controller = null;
    this.wake = null;
    this.stopped = false;
  }

  start() {
    addEventListener("online", () => this.retryNow());
    addEventListener("offline", () => this.controller?.abort("offline"));
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && Date.now() - this.lastHeard > STALL_MS) this.retryNow();
    });
    setInterval(() => this.watchdog(), 1000);
    this.loop();
  }

  retryNow() {
    this.controller?.abort("retry");
    if (this.wake) this.wake();
  }

  setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    this.onStatus?.(status, this);
  }

  watchdog() {
    if (this.status === "live" && Date.now() - this.lastHeard > STALL_MS) this.controller?.abort("stalled");
    if (this.status === "offline") this.onStatus?.("offline", this); // let the countdown tick
  }

  async loop() {
    while (!this.stopped) {
      try {
        await this.connect();
      } catch (error) {
        if (error?.name !== "AbortError" && !(typeof error === "string")) console.debug("stream:", error);
      }
      if (this.stopped) break;
      this.setStatus("offline");
      const delay = BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length - 1)];
      this.failures += 1;
      this.retryAt = Date.now() + delay * (0.8 + Math.random() * 0.4);
      this.onStatus?.("offline", this);
      await new Promise((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, this.retryAt - Date.now());
      });
      this.wake = null;
    }
  }

  async connect() {
    this.controller = new AbortController();
    const query = new URLSearchParams(this.params);
    query.set("after", String(this.seq));
    const response = await fetch(`${this.url}?${query}`, {
      headers: { Accept: "text/event-stream" },
      cache: "no-store",
      signal: this.controller.signal,
    });
    if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
    this.lastHeard = Date.now();
    this.failures = 0;
    this.setStatus("live");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the server closed the stream");
      this.lastHeard = Date.now();
      buffer += value;
      let end;
      while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + (buffer[end] === "\r" ? 4 : 2));
        await this.dispatch(block);
      }
      if (this.status !== "live") this.setStatus("live");
    }
  }

  async dispatch(block) {
    let type = "message";
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (!line || line.startsWith(":")) continue; // a heartbeat or comment
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") type = value;
      else if (field === "data") data.push(value);
    }
    if (!data.length) return;
    const payload = JSON.parse(data.join("\n"));
    if (type === "resync") {
      // The stream goes on from the server's present; the state comes whole.
      const snapshot = await this.onResync(payload);
      this.seq = snapshot.seq;
      return;
    }
    if (typeof payload.seq === "number" && payload.seq > this.seq) {
      this.seq = payload.seq;
      this.onEvent(payload);
    }
  }
}
