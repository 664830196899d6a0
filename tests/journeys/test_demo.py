"""The quick start's first command, as a new user runs it: `tindak demo` in a fresh folder.

It must tell the story that truly happened (in Indonesian by default), deliver its mail to
the local SMTP server, and print "look further" commands that run exactly as printed."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
import urllib.request
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tests.plugins.processes import TINDAK, free_port


def _clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TINDAK_", "PREFECT_"))}
    env["HOME"] = str(tmp_path / "user")  # a new user's machine: no ~/.tindak yet
    return env


@pytest.mark.slow
def test_demo_tells_what_happened_and_its_commands_run(tmp_path: Path):
    env = _clean_env(tmp_path)
    demo = tmp_path / "tindak-demo"
    out = subprocess.run([TINDAK, "demo", "--dir", str(demo)], env=env, capture_output=True,
                         text=True, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    text = out.stdout

    # The story in words, and the numbers it claims are the ones the pages show.
    assert "Para penanggung jawab melaporkan kemajuan" in text
    verified = re.findall(r"dilaporkan selesai oleh penanggung jawabnya, diverifikasi oleh (.+)",
                          text)
    assert len(verified) >= 2, text
    assert "Selesai sesuai rekomendasi 3" in text
    rates = [int(n) for n in re.findall(r"^\s+(\d+)%\s+\S", text, flags=re.M)]
    assert rates and max(rates) > 0, text

    # Mail really arrived at the local server, and the digest does not say 0 % everywhere.
    emls = sorted((demo / "mail").glob("*.eml"))
    assert len(emls) >= 10
    match = re.search(r"Server SMTP menerima (\d+) pesan", text)
    assert match and int(match.group(1)) == len(emls), text
    subjects = [str(message_from_bytes(p.read_bytes(), policy=policy.default)["Subject"])
                for p in emls]
    digests = [s for s in subjects if "Ringkasan mingguan" in s]
    assert digests and any(re.search(r"[1-9]\d*% selesai", s) for s in digests), subjects

    # "Look further": every printed command runs as printed, in a shell, as the user would.
    block = text.split("Lihat lebih lanjut", 1)[1].splitlines()[1:]
    commands = [line.split("    #")[0].strip() for line in block if line.startswith("  ")]
    export = commands[0]
    assert export == f"export TINDAK_HOME={demo}"
    for cmd in commands[1:]:
        if not cmd.startswith(("/", "tindak")):
            continue  # a line that names a folder, not a command
        argv = shlex.split(cmd)
        if argv[1] == "web":
            port = free_port()
            proc = subprocess.Popen(["bash", "-c", f"{export} && exec {cmd} --port {port}"],
                                    env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True)
            try:
                body = _get(f"http://127.0.0.1:{port}/", proc)
                assert "Forum Konsultasi Publik BPS Kabupaten Sleman 2026" in body
            finally:
                proc.terminate()
                proc.wait(timeout=15)
            continue
        run = subprocess.run(["bash", "-c", f"{export} && {cmd}"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, (cmd, run.stdout, run.stderr)
        assert "Traceback" not in run.stderr
        if argv[1] == "login-link":
            assert re.match(r"http://127\.0\.0\.1:8000/masuk/\S+$", run.stdout.strip())
        if argv[1:3] == ["recs", "list"]:
            assert "SETDA3302-2026" in run.stdout or "FKP-" in run.stdout

    again = subprocess.run([TINDAK, "demo", "--dir", str(demo)], env=env, capture_output=True,
                           text=True, timeout=120, cwd=tmp_path)
    assert again.returncode == 1 and "tidak kosong" in again.stderr


def _get(url: str, proc: subprocess.Popen, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "tindak web exited"
        try:
            with urllib.request.urlopen(url, timeout=2) as res:
                return res.read().decode()
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer")


