// The flags every browser test gives Debian's Chromium: root needs --no-sandbox, the fake
// devices give it a synthetic camera and microphone and answer the permission prompt,
// loopback candidates are allowed (the tests run on 127.0.0.1 only), and nothing calls out.

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--use-fake-device-for-media-stream",
  "--use-fake-ui-for-media-stream",
  "--allow-loopback-in-peer-connection",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-gpu",
];
