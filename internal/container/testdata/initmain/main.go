// Command initmain is runtime.InitMain as a static binary, for the --init
// test (the test binary itself links libc, which busybox images lack).
package main

import (
	"fmt"
	"os"

	"github.com/strata-project/strata/internal/runtime"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "init-reaper" {
		args = args[1:]
	}
	if err := runtime.InitMain(args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(125)
	}
}
