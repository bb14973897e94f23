// Package modeltest holds the billing service's model test: the real
// binary, run as a process against PostgreSQL and NATS, is killed and
// restarted while 64 clients drive random ledger operations and database
// connections are terminated under it; afterwards every ledger invariant
// and every acknowledged operation must be in the database exactly once.
// The package has no code of its own.
package modeltest
