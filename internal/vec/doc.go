// Package vec holds the dense float64 kernels that dominate a small
// ensemble analysis: plane rotations of two rows (the QL sweeps of the
// ensemble-space eigensolver), y += a·x, y += Aᵀw, C += A·B, the rank-one
// and symmetric rank-two updates of Householder reflections, row dot
// products and a bound check. On amd64 with AVX2 they run as assembly
// (vec_amd64.s); elsewhere, with the purego build tag, and as the
// reference in the tests, as plain Go.
//
// Both paths give the same bits: the assembly does the same IEEE multiplies
// and adds in the same order, four lanes at a time, and never fuses a
// multiply-add (the Go code converts products to float64 explicitly, which
// forbids the compiler from fusing them either). So an amd64 machine
// without AVX2 reproduces a run of one with it bit for bit. Each kernel
// documents its order of summation.
package vec
