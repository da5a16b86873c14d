package main

import (
	"os"
	"testing"
)

// e2eAsCommand is the environment variable that makes the test binary act
// as the c2cbridge command: the process-style end-to-end tests run the
// test binary itself (os.Executable) with it set, so the command they
// signal is this package's main, built with the test's flags (-race
// included), without a separate go build.
const e2eAsCommand = "C2CBRIDGE_E2E_AS_COMMAND"

func TestMain(m *testing.M) {
	if os.Getenv(e2eAsCommand) == "1" {
		main() // exits
	}
	os.Exit(m.Run())
}
