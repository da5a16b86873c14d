module github.com/c2cbridge/c2cbridge

go 1.26.0

require (
	github.com/creack/pty v1.1.24 // indirect
	go.bug.st/serial v1.8.0 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
