# Self-hosted workerd serving ONE orchestrator function (here: the health check) on :8080.
#   npm run build
#   UPSTASH_TOKEN=… npx workerd serve deploy/workerd.example.capnp
# Paths in `embed` are relative to this file. Config arrives as text bindings, i.e. the
# `env` argument of fetch(request, env), and goes through the same schema as process.env.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "health", worker = .healthWorker),
    # The worker reaches Redis over HTTP (Upstash REST); allow private addresses if your
    # REST endpoint (or the local proxy of deploy/upstash-proxy.ts) is on your network.
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "http", address = "*:8080", http = (), service = "health")],
);

const healthWorker :Workerd.Worker = (
  modules = [(name = "health-infrastructure.mjs", esModule = embed "../dist/functions/health-infrastructure.mjs")],
  compatibilityDate = "2026-04-01",
  bindings = [
    (name = "ORCHESTRATOR_UPSTASH_URL", text = "http://127.0.0.1:8079"),
    (name = "ORCHESTRATOR_UPSTASH_TOKEN", fromEnvironment = "UPSTASH_TOKEN"),
  ],
);
