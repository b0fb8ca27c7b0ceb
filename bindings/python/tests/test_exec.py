"""procroot.exec_in and procroot.credentials_of against a stand-in container: a process in its
own UTS namespace with Docker's default capabilities (needs root)."""

import os
import subprocess
import tempfile
import time

import pytest

import procroot

DOCKER_CAPS = 0xA80425FB


@pytest.fixture
def container():
    if os.geteuid() != 0:
        pytest.fail("this test needs root (setns into the stand-in container)")
    p = subprocess.Popen([
        "unshare", "--uts", "setpriv", "--inh-caps=-all",
        "--bounding-set=-all,+chown,+dac_override,+fsetid,+fowner,+mknod,+net_raw,+setgid,"
        "+setuid,+setfcap,+setpcap,+net_bind_service,+sys_chroot,+kill,+audit_write",
        "--", "sleep", "60"])
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with open(f"/proc/{p.pid}/comm") as f:
                    if f.read().strip() == "sleep":
                        break
            except FileNotFoundError:
                pass
            assert time.monotonic() < deadline, "the stand-in container never started"
            time.sleep(0.01)
        yield p.pid
    finally:
        p.kill()
        p.wait()


def test_exec_runs_as_the_target(container):
    creds = procroot.credentials_of(container)
    assert (creds.uid, creds.gid) == (0, 0)
    assert creds.cap_effective == DOCKER_CAPS and creds.cap_bounding == DOCKER_CAPS
    assert not creds.no_new_privs and creds.seccomp_filters == 0

    # Not pytest's tmp_path: its parents are 0700, which uid 1234 cannot search.
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o777)
        out = os.path.join(d, "out")
        script = "{ id -u; grep '^CapEff:' /proc/self/status | cut -f2; } > " + out + "; exit 3"

        def run(**kw):
            if os.path.exists(out):
                os.remove(out)
            st = procroot.exec_in(container, ["sh", "-c", script], **kw)
            assert os.waitstatus_to_exitcode(st) == 3
            with open(out) as f:
                return f.read()

        assert run() == f"0\n{DOCKER_CAPS:016x}\n"
        with open("/proc/self/status") as f:
            ours = next(l.split()[1] for l in f if l.startswith("CapEff:"))
        assert run(privileged=True) == f"0\n{ours}\n"
        assert run(user=1234) == "1234\n0000000000000000\n"

        with pytest.raises(procroot.ProcrootError) as e:
            procroot.exec_in(container, ["sh", "-c", script], privileged=True, user=1)
        assert "PROCROOT_EXEC_PRIVILEGED" in str(e.value)
    with pytest.raises(OverflowError):
        procroot.exec_in(container, ["true"], user=2**32)
    with pytest.raises(ProcessLookupError):
        procroot.exec_in(2**22 + 12345, ["true"])


def test_exec_gives_the_targets_environment(container, monkeypatch):
    # Set after the container started: only the caller has it.
    monkeypatch.setenv("PROCROOT_PY_SECRET", "hunter2")
    home = os.environ["HOME"]
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out")
        script = 'echo "${PROCROOT_PY_SECRET-unset} ${HOME-unset}" > ' + out

        def run(**kw):
            st = procroot.exec_in(container, ["sh", "-c", script], **kw)
            assert os.waitstatus_to_exitcode(st) == 0
            with open(out) as f:
                return f.read().strip()

        assert run() == f"unset {home}"
        assert run(env_clear=True) == "unset unset"
        assert run(preserve_env=True) == f"hunter2 {home}"
        with pytest.raises(procroot.ProcrootError) as e:
            run(env_clear=True, preserve_env=True)
        assert "exclude each other" in str(e.value)
        assert run(env_clear=True, env={"PROCROOT_PY_SECRET": b"from-env"}) == "from-env unset"
        assert run(env={"HOME": "/h"}) == "unset /h"
        with pytest.raises(procroot.ProcrootError):
            run(env={"A=B": "c"})


def test_exec_config_is_compiled_first(container, tmp_path):
    """A config whose profile does not compile (an unknown syscall name) is refused naming the
    name, and nothing runs; a valid one is not used for a target without a filter."""
    def write(name, names):
        path = tmp_path / name
        path.write_text('{"ociVersion":"1.0.2","linux":{"seccomp":{"defaultAction":'
                        '"SCMP_ACT_ALLOW","syscalls":[{"names":[%s],"action":"SCMP_ACT_ERRNO"}]}}}'
                        % names)
        return str(path)

    ran = tmp_path / "ran"
    with pytest.raises(procroot.ProcrootError) as e:
        procroot.exec_in(container, ["touch", str(ran)],
                         config=write("bad.json", '"mkdir","no_such_call"'))
    assert '"no_such_call"' in str(e.value)
    assert not ran.exists()
    out = tmp_path / "out"
    st = procroot.exec_in(container, ["sh", "-c", "grep '^Seccomp:' /proc/self/status | "
                                      "tr -d ' \\t' > " + str(out)],
                          config=write("good.json", '"mkdir"'))
    assert os.waitstatus_to_exitcode(st) == 0
    assert out.read_text() == "Seccomp:0\n"
