// Package cputime reads the CPU time the process has used, for benchmarks
// that report it beside the wall time (other load on the machine disturbs
// it much less).
package cputime
