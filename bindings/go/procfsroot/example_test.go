package procfsroot_test

// procfsroot's examples (example_evalsymlink_test.go of github.com/thediveo/procfsroot)
// restated with their exact expected output. TestMain runs them in a private mount namespace
// where /run (a tmpfs) holds docker.sock.

import (
	"fmt"

	"example.invalid/procroot/procfsroot"
)

func ExampleEvalSymlinks() {
	path, err := procfsroot.EvalSymlinks("/var/run/docker.sock", "/proc/self/root", procfsroot.EvalFullPath)
	if err != nil {
		panic(err)
	}
	fmt.Println(path)
	// Output: /run/docker.sock
}

func ExampleEvalSymlinks_error() {
	_, err := procfsroot.EvalSymlinks("/var/run/something", "/proc/self/root", procfsroot.EvalFullPath)
	fmt.Println(err)
	// Output: lstat /proc/self/root/run/something: no such file or directory
}

func ExampleEvalSymlinks_evalexceptlast() {
	p, err := procfsroot.EvalSymlinks("/var/run/something", "/proc/self/root", procfsroot.EvalExceptLast)
	if err != nil {
		panic(err)
	}
	fmt.Println(p)
	// Output: /run/something
}

func ExampleEvalSymlinks_boxed() {
	_, err := procfsroot.EvalSymlinks("/../../../bin/hostbinary", "/proc/self/root", procfsroot.EvalFullPath)
	fmt.Println(err)
	// Output: procfsroot.EvalSymlinks: no parent directory
}
