// Installed by the URL guard (webserv/browser/guard.py) in every frame of a guarded context
// before any page script runs, called with the allowed hosts and the name of the binding that
// reports to the guard. What keeps WebRTC from reaching other hosts is the browser's WebRTC
// policy (no UDP at all; TCP only through the context's proxy, which refuses them), which no
// page script can get around; this lists what a page tried in the observation's blocked_urls,
// like every other blocked request, and keeps a peer connection to the servers the session may
// reach.
(allowed, binding) => {
  const Native = window.RTCPeerConnection;
  if (!Native) return;
  const hosts = new Set(allowed);
  // Looked up when needed: Playwright may define the binding after this script has run.
  const report = (url) => {
    try {
      window[binding](url);
    } catch (err) { /* the page replaced the binding: its attempt still gets nowhere */ }
  };
  // stun:host[:port] and turn:host[:port][?transport=udp|tcp] (RFC 7064, 7065).
  const ICE_URL = /^(stuns?|turns?):([^:?]*)(?::(\d+))?(?:\?.*)?$/i;
  const allows = (url) => {
    const match = ICE_URL.exec(url.trim());
    if (!match) return false;
    const host = match[2].toLowerCase();
    const port = match[3] || (/s$/i.test(match[1]) ? '5349' : '3478');
    return hosts.has(host) || hosts.has(`${host}:${port}`);
  };
  // The servers the session may reach, and only relayed candidates: through TURN is the one
  // path the policy leaves open anyway, and under "relay" the browser does not look up the host
  // names of remote candidates (a DNS query names a host the session was not given).
  const confine = (config) => {
    if (config === undefined || config === null) return { iceTransportPolicy: 'relay' };
    if (typeof config !== 'object') return config; // the browser rejects it
    const servers = [];
    for (const server of config.iceServers || []) {
      const given = server && server.urls;
      const urls = typeof given === 'string' ? [given] : Array.from(given || [], String);
      const kept = urls.filter((url) => {
        if (allows(url)) return true;
        report(url);
        return false;
      });
      if (kept.length) servers.push({ ...server, urls: kept });
    }
    return { ...config, iceServers: servers, iceTransportPolicy: 'relay' };
  };
  const Guarded = new Proxy(Native, {
    construct(target, args, newTarget) {
      return Reflect.construct(target, [confine(args[0]), ...args.slice(1)], newTarget);
    },
  });
  const nativeSetConfiguration = Native.prototype.setConfiguration;
  Native.prototype.setConfiguration = function (config) {
    return nativeSetConfiguration.call(this, confine(config));
  };
  Native.prototype.constructor = Guarded;
  window.RTCPeerConnection = Guarded;
  if (window.webkitRTCPeerConnection === Native) window.webkitRTCPeerConnection = Guarded;
}
