// HEALTHCHECK probe without curl (the runtime image has node only): exit 0 when
// /health answers 200 within 2 seconds, 1 otherwise.
const http = require('http');

const port = Number(process.env.PORT || 3000);
const req = http.get({ host: '127.0.0.1', port, path: '/health', timeout: 2000 }, (res) => {
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on('timeout', () => req.destroy(new Error('timeout')));
req.on('error', () => process.exit(1));
