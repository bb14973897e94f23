// Package bench measures the ledger's throughput against PostgreSQL's own
// yardstick: reserve+capture pairs per second next to pgbench's TPC-B
// transactions per second, on the same server in the same run. It has no
// code of its own; run it with
//
//	go test -run '^$' -bench ReserveCapture -benchtime 20000x ./internal/bench
package bench
