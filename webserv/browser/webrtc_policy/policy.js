// Opened once by webserv.browser.guard.confine_webrtc when a browser starts. Sets the WebRTC IP
// handling policy (which Chromium takes from its preferences only: the flag
// --force-webrtc-ip-handling-policy is ignored outside content_shell and headless_shell), then
// puts what incognito contexts (Playwright's contexts) now get into the title, which the guard
// reads through the DevTools protocol.
const policy = chrome.privacy.network.webRTCIPHandlingPolicy;
policy
  .set({ value: 'disable_non_proxied_udp' })
  .then(() => policy.get({ incognito: true }))
  .then(
    (setting) => {
      document.title = `policy ${setting.value}`;
    },
    (error) => {
      document.title = `error ${error.message}`;
    },
  );
