package procfsroot

import (
	"regexp"
	"testing"
)

// pidOfRoot must match exactly what the regular expression it replaces matched.
func TestPidOfRootIsTheRegexp(t *testing.T) {
	re := regexp.MustCompile(`^/proc/([1-9][0-9]*)/root/*$`)
	for _, root := range []string{
		"/proc/1/root", "/proc/1/root/", "/proc/1/root///", "/proc/123/root", "/proc/0/root",
		"/proc/01/root", "/proc//root", "/proc/1/rootx", "/proc/1/root/x", "/proc/1/root/./",
		"/proc/self/root", "proc/1/root", "//proc/1/root", "/proc/1", "/proc/1/", "/proc/",
		"/proc/12a/root", "/proc/99999999999999999999999/root", "", "/", "/tmp/root",
		"/proc/1/root\n", " /proc/1/root",
	} {
		m := re.FindStringSubmatch(root)
		digits, ok := pidOfRoot(root)
		if ok != (m != nil) || (ok && digits != m[1]) {
			t.Errorf("%q: pidOfRoot %q, %v; regexp %q", root, digits, ok, m)
		}
	}
}
