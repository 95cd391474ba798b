"""The full-stack example's web service.

GET /health  increments a counter in Redis and inserts a row in PostgreSQL, then
             answers with both (so one request through the proxy shows that the
             whole chain works); 503 if either backend fails.
GET /        the version and the service's host name, touching neither backend
             (the image's HEALTHCHECK uses it).
"""
import os
import signal
import socket
import sys

import psycopg2
import redis
from flask import Flask, jsonify

app = Flask(__name__)

# As the container's PID 1 the interpreter gets no default action for SIGTERM
# (`docker stop` would wait 10 s and SIGKILL): exit on it, and on SIGINT too,
# whatever disposition the process inherited.
for _sig in (signal.SIGTERM, signal.SIGINT):
    signal.signal(_sig, lambda signum, frame: sys.exit(0))

VERSION = os.environ.get("APP_VERSION", "dev")
HOSTNAME = socket.gethostname()


def db_connect():
    return psycopg2.connect(
        host=os.environ.get("DB_HOST", "db"),
        port=int(os.environ.get("DB_PORT", "5432")),
        dbname=os.environ.get("DB_NAME", "myapp"),
        user=os.environ.get("DB_USER", "admin"),
        password=os.environ.get("DB_PASSWORD", ""),
        connect_timeout=3,
    )


cache = redis.Redis(
    host=os.environ.get("REDIS_HOST", "cache"),
    port=int(os.environ.get("REDIS_PORT", "6379")),
    socket_connect_timeout=3,
    socket_timeout=3,
)


@app.get("/")
def index():
    return jsonify(service="web", version=VERSION, hostname=HOSTNAME)


@app.get("/health")
def health():
    out = {"version": VERSION, "hostname": HOSTNAME}
    ok = True
    try:
        out["cache_hits"] = cache.incr("hits")
    except redis.RedisError as e:
        ok, out["cache_error"] = False, str(e)
    try:
        conn = db_connect()
        try:
            with conn, conn.cursor() as cur:
                cur.execute(
                    "CREATE TABLE IF NOT EXISTS visits (id serial PRIMARY KEY,"
                    " hostname text NOT NULL,"
                    " visited_at timestamptz NOT NULL DEFAULT now())"
                )
                cur.execute(
                    "INSERT INTO visits (hostname) VALUES (%s) RETURNING id",
                    (HOSTNAME,),
                )
                out["db_row_id"] = cur.fetchone()[0]
                cur.execute("SELECT count(*) FROM visits")
                out["db_rows"] = cur.fetchone()[0]
        finally:
            conn.close()
    except psycopg2.Error as e:
        ok, out["db_error"] = False, str(e).strip()
    out["status"] = "ok" if ok else "degraded"
    return jsonify(out), 200 if ok else 503


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=5000)
