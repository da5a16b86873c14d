module github.com/c2cbridge/c2cbridge

go 1.26.0

require (
	github.com/creack/pty v1.1.24
	go.bug.st/serial v1.8.0
	golang.org/x/sys v0.50.0
	gopkg.in/yaml.v3 v3.0.1
)
