-- A Python app: wheels built once in a virtualenv, copied to a slim runtime.
-- Dockerfile equivalent: see Dockerfile next to this file.

local pip_cache = bk.cache("/root/.cache/pip", { id = "pip", sharing = "locked" })

local venv = bk.image("python:3.12-slim")
    :run("python -m venv /venv")
    :copy(bk.local_("context", { include = { "requirements.txt" } }), "requirements.txt", "/tmp/requirements.txt")
    :run("/venv/bin/pip install -r /tmp/requirements.txt", { mounts = { pip_cache } })

local app = bk.image("python:3.12-slim")
    :run({ "useradd", "--create-home", "--uid", "1000", "app" })
    :copy(venv, "/venv", "/venv")
    :copy(bk.local_("context", { exclude = { "__pycache__", "*.pyc", ".venv" } }), ".", "/app", { owner = "app:app" })

bk.export(app, {
    cmd = { "python", "-m", "app" },
    workdir = "/app",
    env = { PATH = "/venv/bin:/usr/local/bin:/usr/bin:/bin", PYTHONUNBUFFERED = "1" },
    user = "app",
    expose = { "8000/tcp" },
    healthcheck = {
        test = {
            "CMD",
            "python",
            "-c",
            "import urllib.request; urllib.request.urlopen('http://localhost:8000/health')",
        },
        interval = "30s",
        timeout = "3s",
        retries = 3,
    },
})
