// Package vec holds the few dense float64 kernels that dominate a small
// ensemble analysis: plane rotations of two rows (the QL sweeps of the
// ensemble-space eigensolver), y += a·x, and a bound check. On amd64 with
// AVX2 they run as assembly; everywhere else, and as the reference in the
// tests, as plain Go.
//
// Both paths give the same bits: the assembly does the same IEEE multiplies
// and adds in the same order, four lanes at a time, and never fuses a
// multiply-add (the Go code converts products to float64 explicitly, which
// forbids the compiler from fusing them either). A run is therefore
// reproducible bit for bit whether or not the machine has AVX2.
package vec
