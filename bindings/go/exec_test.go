package procroot_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"example.invalid/procroot"
)

// dockerCaps is Docker's default capability set, as /proc/<pid>/status prints CapEff.
const dockerCaps = "00000000a80425fb"

// startContainer starts a stand-in container: a process in its own UTS namespace with Docker's
// default capabilities, killed and reaped when the test ends.
func startContainer(t *testing.T) int {
	cmd := exec.Command("unshare", "--uts", "setpriv", "--inh-caps=-all",
		"--bounding-set=-all,+chown,+dac_override,+fsetid,+fowner,+mknod,+net_raw,+setgid,"+
			"+setuid,+setfcap,+setpcap,+net_bind_service,+sys_chroot,+kill,+audit_write",
		"--", "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := cmd.Process.Pid
	deadline := time.Now().Add(20 * time.Second)
	for {
		comm, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
		if strings.TrimSpace(string(comm)) == "sleep" {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatal("the stand-in container never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func capEff(t *testing.T, status string) string {
	for _, l := range strings.Split(status, "\n") {
		if strings.HasPrefix(l, "CapEff:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "CapEff:"))
		}
	}
	t.Fatalf("no CapEff in %q", status)
	return ""
}

// runScript runs `sh -c script` in pid with opts, which must exit 0, and returns what it wrote
// to out (removed first).
func runScript(t *testing.T, pid int, script, out string, opts procroot.ExecOptions) string {
	t.Helper()
	_ = os.Remove(out)
	st, err := procroot.Exec(pid, []string{"sh", "-c", script}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Exited() || st.ExitStatus() != 0 {
		t.Fatalf("status %v", st)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestExecRunsAsTheTarget: by default the command has the target's CapEff (not the caller's
// full set); Privileged keeps the caller's; User changes the uid; CredentialsOf reads the sets.
func TestExecRunsAsTheTarget(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (setns into the stand-in container)")
	}
	pid := startContainer(t)
	creds, err := procroot.CredentialsOf(pid)
	if err != nil {
		t.Fatal(err)
	}
	if creds.UID != 0 || creds.Effective != 0xa80425fb || creds.NoNewPrivs || creds.SeccompFilters != 0 {
		t.Fatalf("credentials %+v", creds)
	}
	// Not t.TempDir(): its parent is 0700, which uid 1234 cannot search.
	dir, err := os.MkdirTemp("", "procroot-exec-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	script := "{ id -u; grep '^CapEff:' /proc/self/status | cut -f2; } > " + out
	run := func(opts procroot.ExecOptions) string { return runScript(t, pid, script, out, opts) }
	if got := run(procroot.ExecOptions{}); got != "0\n"+dockerCaps+"\n" {
		t.Errorf("default: %q", got)
	}
	ours, _ := os.ReadFile("/proc/self/status")
	if got := run(procroot.ExecOptions{Privileged: true}); got != "0\n"+capEff(t, string(ours))+"\n" {
		t.Errorf("privileged: %q", got)
	}
	if got := run(procroot.ExecOptions{User: &procroot.ExecUser{UID: 1234, GID: -1}}); got != "1234\n0000000000000000\n" {
		t.Errorf("user 1234: %q", got)
	}
	if _, err := procroot.Exec(pid, nil, procroot.ExecOptions{}); err == nil {
		t.Error("empty argv must be refused")
	}
}

// TestExecGivesTheTargetsEnvironment: by default the command gets the target's environment, not
// the caller's variables; EnvClear starts empty, PreserveEnv gives the caller's, not both.
func TestExecGivesTheTargetsEnvironment(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (setns into the stand-in container)")
	}
	pid := startContainer(t)
	// Set after the container started: only the caller has it.
	t.Setenv("PROCROOT_GO_SECRET", "hunter2")
	home := os.Getenv("HOME")
	if home == "" {
		t.Fatal("HOME is not set: the container inherits it, the test needs it")
	}
	out := filepath.Join(t.TempDir(), "out")
	script := `echo "${PROCROOT_GO_SECRET-unset} ${HOME-unset}" > ` + out
	run := func(opts procroot.ExecOptions) string {
		return strings.TrimSpace(runScript(t, pid, script, out, opts))
	}
	if got := run(procroot.ExecOptions{}); got != "unset "+home {
		t.Errorf("default: %q", got)
	}
	if got := run(procroot.ExecOptions{EnvClear: true}); got != "unset unset" {
		t.Errorf("EnvClear: %q", got)
	}
	if got := run(procroot.ExecOptions{PreserveEnv: true}); got != "hunter2 "+home {
		t.Errorf("PreserveEnv: %q", got)
	}
	_, err := procroot.Exec(pid, []string{"true"}, procroot.ExecOptions{EnvClear: true, PreserveEnv: true})
	if err == nil || !strings.Contains(err.Error(), "exclude each other") {
		t.Errorf("EnvClear with PreserveEnv: %v", err)
	}
	if got := run(procroot.ExecOptions{EnvClear: true, Env: []string{"PROCROOT_GO_SECRET=from-env"}}); got != "from-env unset" {
		t.Errorf("Env: %q", got)
	}
	_, err = procroot.Exec(pid, []string{"true"}, procroot.ExecOptions{Env: []string{"NOEQ"}})
	if err == nil || !strings.Contains(err.Error(), "not KEY=VALUE") {
		t.Errorf("Env NOEQ: %v", err)
	}
}

// TestExecConfigIsCompiledFirst: a Config whose profile does not compile (an unknown syscall
// name) is refused naming the name, and nothing runs; a valid one is not used for a target
// without a filter (the command runs unfiltered, as the target does).
func TestExecConfigIsCompiledFirst(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (setns into the stand-in container)")
	}
	pid := startContainer(t)
	dir := t.TempDir()
	write := func(name, names string) string {
		path := filepath.Join(dir, name)
		config := `{"ociVersion":"1.0.2","linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW",` +
			`"syscalls":[{"names":[` + names + `],"action":"SCMP_ACT_ERRNO"}]}}}`
		if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	ran := filepath.Join(dir, "ran")
	_, err := procroot.Exec(pid, []string{"touch", ran},
		procroot.ExecOptions{Config: write("bad.json", `"mkdir","no_such_call"`)})
	if err == nil || !strings.Contains(err.Error(), `"no_such_call"`) {
		t.Fatalf("an unknown syscall name: %v", err)
	}
	if _, err := os.Stat(ran); err == nil {
		t.Fatal("the command ran with a refused config")
	}
	out := filepath.Join(dir, "out")
	got := runScript(t, pid, "grep '^Seccomp:' /proc/self/status | tr -d ' \\t' > "+out, out,
		procroot.ExecOptions{Config: write("good.json", `"mkdir"`)})
	if got != "Seccomp:0\n" {
		t.Errorf("a target without a filter: %q", got)
	}
}
