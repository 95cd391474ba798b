// A plain Node HTTP server: "/" greets, "/health" answers for HEALTHCHECK.
const http = require('http');
const os = require('os');
const ms = require('ms'); // the one dependency: "3m 20s"-style durations

const port = Number(process.env.PORT || 3000);
const started = Date.now();

const server = http.createServer((req, res) => {
  if (req.url === '/health') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ status: 'ok' }));
    return;
  }
  if (req.url === '/') {
    const up = ms(Date.now() - started, { long: true });
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(`Hello from Node ${process.version} in a container (${os.hostname()}, uid ${process.getuid()}, up ${up})\n`);
    return;
  }
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('not found\n');
});

server.listen(port, () => console.log(`listening on :${port}`));

// PID 1 in a container gets no default signal handling: stop on SIGTERM ourselves.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
