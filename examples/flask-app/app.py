"""The smallest Flask app worth a multi-stage image: a greeting and a health check."""
import os
import socket

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/")
def index():
    return f"Hello from Flask in a container ({socket.gethostname()}, uid {os.getuid()})\n"


@app.get("/health")
def health():
    return jsonify(status="ok")


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=5000)
