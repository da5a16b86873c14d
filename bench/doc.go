// Package bench holds the benchmarks of c2cbridge as a whole; it has no
// code of its own besides this documentation and its benchmark.
//
// bench/run builds the binary and runs bench/cmd/c2cbench, which measures
// the bridge process against plaintext references (socat) on real
// pseudo-terminals and prints a markdown table; see bench/README.md.
// BenchmarkBridgeThroughput runs the throughput figure in one process, so
// that go test -cpuprofile can profile the bridge engine:
//
//	go test -run XXX -bench BridgeThroughput -cpuprofile cpu.out ./bench
//	go tool pprof -top bench.test cpu.out
//
// The shared parts live in bench/internal: sink, the codec-based far end
// of the throughput runs, and ptypair, the pty that plays the UART.
package bench
