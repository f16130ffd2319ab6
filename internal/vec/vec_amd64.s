//go:build !purego

#include "textflag.h"

// tailmask: four all-ones quadwords, then four zeros. The four quadwords
// from tailmask+32−8r select the first r lanes of a vector.
DATA tailmask<>+0(SB)/8, $-1
DATA tailmask<>+8(SB)/8, $-1
DATA tailmask<>+16(SB)/8, $-1
DATA tailmask<>+24(SB)/8, $-1
DATA tailmask<>+32(SB)/8, $0
DATA tailmask<>+40(SB)/8, $0
DATA tailmask<>+48(SB)/8, $0
DATA tailmask<>+56(SB)/8, $0
GLOBL tailmask<>(SB), RODATA|NOPTR, $64

// func rotAVX2(x, y []float64, c, s float64)
// (x, y) ← (c·x − s·y, s·x + c·y).
TEXT ·rotAVX2(SB), NOSPLIT, $0-64
	MOVQ         x_base+0(FP), SI
	MOVQ         x_len+8(FP), CX
	MOVQ         y_base+24(FP), DI
	VBROADCASTSD c+48(FP), Y0
	VBROADCASTSD s+56(FP), Y1
	MOVQ         CX, DX
	ANDQ         $-4, DX               // elements done four at a time
	XORQ         AX, AX

rotloop:
	CMPQ    AX, DX
	JGE     rottail
	VMOVUPD (SI)(AX*8), Y2
	VMOVUPD (DI)(AX*8), Y3
	VMULPD  Y2, Y0, Y4     // c·x
	VMULPD  Y3, Y1, Y5     // s·y
	VSUBPD  Y5, Y4, Y4     // c·x − s·y
	VMULPD  Y2, Y1, Y6     // s·x
	VMULPD  Y3, Y0, Y7     // c·y
	VADDPD  Y7, Y6, Y6     // s·x + c·y
	VMOVUPD Y4, (SI)(AX*8)
	VMOVUPD Y6, (DI)(AX*8)
	ADDQ    $4, AX
	JMP     rotloop

rottail:
	CMPQ  AX, CX
	JGE   rotdone
	MOVSD (SI)(AX*8), X2
	MOVSD (DI)(AX*8), X3
	MOVAPD X2, X4
	MULSD X0, X4                      // c·x
	MOVAPD X3, X5
	MULSD X1, X5                      // s·y
	SUBSD X5, X4
	MULSD X1, X2                      // s·x
	MULSD X0, X3                      // c·y
	ADDSD X3, X2
	MOVSD X4, (SI)(AX*8)
	MOVSD X2, (DI)(AX*8)
	INCQ  AX
	JMP   rottail

rotdone:
	VZEROUPPER
	RET

// func axpyAVX2(a float64, x, y []float64)
// y ← y + a·x; len(x) is a multiple of 4.
TEXT ·axpyAVX2(SB), NOSPLIT, $0-56
	VBROADCASTSD a+0(FP), Y0
	MOVQ         x_base+8(FP), SI
	MOVQ         x_len+16(FP), CX
	MOVQ         y_base+32(FP), DI
	XORQ         AX, AX

axpyloop:
	CMPQ    AX, CX
	JGE     axpydone
	VMULPD  (SI)(AX*8), Y0, Y1
	VADDPD  (DI)(AX*8), Y1, Y1
	VMOVUPD Y1, (DI)(AX*8)
	ADDQ    $4, AX
	JMP     axpyloop

axpydone:
	VZEROUPPER
	RET

// func allWithinAVX2(x []float64, limit float64) bool
// Whether |x[k]| <= limit for all k, false on NaN; len(x) is a multiple of 4.
TEXT ·allWithinAVX2(SB), NOSPLIT, $0-33
	MOVQ         x_base+0(FP), SI
	MOVQ         x_len+8(FP), CX
	VBROADCASTSD limit+24(FP), Y0
	MOVQ         $0x7fffffffffffffff, AX
	MOVQ         AX, X1
	VPBROADCASTQ X1, Y1          // mask of everything but the sign
	VXORPD       Y2, Y2, Y2      // lanes that failed so far
	XORQ         AX, AX

withinloop:
	CMPQ    AX, CX
	JGE     withindone
	VANDPD  (SI)(AX*8), Y1, Y3   // |x|
	VCMPPD  $0x16, Y0, Y3, Y3    // NLE_UQ: !(|x| <= limit), true on NaN
	VORPD   Y3, Y2, Y2
	ADDQ    $4, AX
	JMP     withinloop

withindone:
	VMOVMSKPD Y2, AX
	VZEROUPPER
	TESTQ     AX, AX
	SETEQ     ret+32(FP)
	RET

// func gemvTAVX2(dst, w, a []float64, stride int)
// dst[j] += w[l]·a[l·stride+j] for l = 0, 1, … in turn. Columns go 16 at a
// time (four independent sums), then 4, then the last 1–3 under a mask.
TEXT ·gemvTAVX2(SB), NOSPLIT, $0-80
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ w_base+24(FP), SI
	MOVQ w_len+32(FP), BX
	MOVQ a_base+48(FP), R8
	MOVQ stride+72(FP), R9
	SHLQ $3, R9
	XORQ AX, AX

gemv16:
	MOVQ    CX, DX
	SUBQ    AX, DX
	CMPQ    DX, $16
	JLT     gemv4
	VMOVUPD (DI)(AX*8), Y0
	VMOVUPD 32(DI)(AX*8), Y1
	VMOVUPD 64(DI)(AX*8), Y2
	VMOVUPD 96(DI)(AX*8), Y3
	LEAQ    (R8)(AX*8), R10
	XORQ    R11, R11

gemv16row:
	CMPQ         R11, BX
	JGE          gemv16store
	VBROADCASTSD (SI)(R11*8), Y4
	VMULPD       (R10), Y4, Y5
	VADDPD       Y5, Y0, Y0
	VMULPD       32(R10), Y4, Y6
	VADDPD       Y6, Y1, Y1
	VMULPD       64(R10), Y4, Y7
	VADDPD       Y7, Y2, Y2
	VMULPD       96(R10), Y4, Y8
	VADDPD       Y8, Y3, Y3
	ADDQ         R9, R10
	INCQ         R11
	JMP          gemv16row

gemv16store:
	VMOVUPD Y0, (DI)(AX*8)
	VMOVUPD Y1, 32(DI)(AX*8)
	VMOVUPD Y2, 64(DI)(AX*8)
	VMOVUPD Y3, 96(DI)(AX*8)
	ADDQ    $16, AX
	JMP     gemv16

gemv4:
	MOVQ    CX, DX
	SUBQ    AX, DX
	CMPQ    DX, $4
	JLT     gemv1
	VMOVUPD (DI)(AX*8), Y0
	LEAQ    (R8)(AX*8), R10
	XORQ    R11, R11

gemv4row:
	CMPQ         R11, BX
	JGE          gemv4store
	VBROADCASTSD (SI)(R11*8), Y4
	VMULPD       (R10), Y4, Y5
	VADDPD       Y5, Y0, Y0
	ADDQ         R9, R10
	INCQ         R11
	JMP          gemv4row

gemv4store:
	VMOVUPD Y0, (DI)(AX*8)
	ADDQ    $4, AX
	JMP     gemv4

gemv1:
	// The last 1–3 columns: one masked vector, the rest of its lanes
	// neither read nor written.
	MOVQ       CX, DX
	SUBQ       AX, DX
	JLE        gemvdone
	LEAQ       tailmask<>+32(SB), R11
	NEGQ       DX
	VMOVUPD    (R11)(DX*8), Y15
	VMASKMOVPD (DI)(AX*8), Y15, Y0
	LEAQ       (R8)(AX*8), R10
	XORQ       R11, R11

gemv1row:
	CMPQ         R11, BX
	JGE          gemv1store
	VBROADCASTSD (SI)(R11*8), Y4
	VMASKMOVPD   (R10), Y15, Y5
	VMULPD       Y5, Y4, Y5
	VADDPD       Y5, Y0, Y0
	ADDQ         R9, R10
	INCQ         R11
	JMP          gemv1row

gemv1store:
	VMASKMOVPD Y0, Y15, (DI)(AX*8)

gemvdone:
	VZEROUPPER
	RET

// func dotLanesAVX2(lanes, x, a []float64, stride int)
// For rows r = 0 … len(lanes)/4−1 of a, lanes[4r+q] = Σₜ x[4t+q]·a[r·stride+4t+q]
// with the terms added in t order; len(x) is a multiple of 4. Rows go four
// at a time, then one.
TEXT ·dotLanesAVX2(SB), NOSPLIT, $0-80
	MOVQ lanes_base+0(FP), DI
	MOVQ lanes_len+8(FP), CX
	SHRQ $2, CX
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), BX
	MOVQ a_base+48(FP), R8
	MOVQ stride+72(FP), R9
	SHLQ $3, R9
	XORQ AX, AX

dot4:
	MOVQ   CX, DX
	SUBQ   AX, DX
	CMPQ   DX, $4
	JLT    dot1
	LEAQ   (R8)(R9*1), R11
	LEAQ   (R11)(R9*1), R12
	LEAQ   (R12)(R9*1), R13
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	XORQ   DX, DX

dot4k:
	CMPQ    DX, BX
	JGE     dot4store
	VMOVUPD (SI)(DX*8), Y4
	VMULPD  (R8)(DX*8), Y4, Y5
	VADDPD  Y5, Y0, Y0
	VMULPD  (R11)(DX*8), Y4, Y6
	VADDPD  Y6, Y1, Y1
	VMULPD  (R12)(DX*8), Y4, Y7
	VADDPD  Y7, Y2, Y2
	VMULPD  (R13)(DX*8), Y4, Y8
	VADDPD  Y8, Y3, Y3
	ADDQ    $4, DX
	JMP     dot4k

dot4store:
	VMOVUPD Y0, (DI)
	VMOVUPD Y1, 32(DI)
	VMOVUPD Y2, 64(DI)
	VMOVUPD Y3, 96(DI)
	ADDQ    $128, DI
	LEAQ    (R13)(R9*1), R8
	ADDQ    $4, AX
	JMP     dot4

dot1:
	CMPQ   AX, CX
	JGE    dotdone
	VXORPD Y0, Y0, Y0
	XORQ   DX, DX

dot1k:
	CMPQ    DX, BX
	JGE     dot1store
	VMOVUPD (SI)(DX*8), Y4
	VMULPD  (R8)(DX*8), Y4, Y5
	VADDPD  Y5, Y0, Y0
	ADDQ    $4, DX
	JMP     dot1k

dot1store:
	VMOVUPD Y0, (DI)
	ADDQ    $32, DI
	ADDQ    R9, R8
	INCQ    AX
	JMP     dot1

dotdone:
	VZEROUPPER
	RET

// func gerAVX2(a []float64, stride int, alpha float64, x, y []float64)
// a[r·stride+c] += (alpha·x[r])·y[c] for r < len(x), c < len(y).
TEXT ·gerAVX2(SB), NOSPLIT, $0-88
	MOVQ  a_base+0(FP), DI
	MOVQ  stride+24(FP), R9
	SHLQ  $3, R9
	MOVSD alpha+32(FP), X0
	MOVQ  x_base+40(FP), SI
	MOVQ  x_len+48(FP), BX
	MOVQ  y_base+64(FP), DX
	MOVQ  y_len+72(FP), CX
	MOVQ  CX, R12
	ANDQ  $-8, R12                   // columns done eight at a time
	MOVQ  CX, R13
	ANDQ  $-4, R13                   // then four
	XORQ  R11, R11

gerrow:
	CMPQ         R11, BX
	JGE          gerdone
	VMULSD       (SI)(R11*8), X0, X1 // alpha·x[r]
	VBROADCASTSD X1, Y1
	XORQ         AX, AX
	CMPQ         AX, R12
	JGE          ger4

ger8:
	VMULPD  (DX)(AX*8), Y1, Y2
	VMULPD  32(DX)(AX*8), Y1, Y3
	VADDPD  (DI)(AX*8), Y2, Y2
	VADDPD  32(DI)(AX*8), Y3, Y3
	VMOVUPD Y2, (DI)(AX*8)
	VMOVUPD Y3, 32(DI)(AX*8)
	ADDQ    $8, AX
	CMPQ    AX, R12
	JLT     ger8

ger4:
	CMPQ    AX, R13
	JGE     gertail
	VMULPD  (DX)(AX*8), Y1, Y2
	VADDPD  (DI)(AX*8), Y2, Y2
	VMOVUPD Y2, (DI)(AX*8)
	ADDQ    $4, AX

gertail:
	CMPQ  AX, CX
	JGE   gernext
	MOVSD (DX)(AX*8), X2
	MULSD X1, X2
	ADDSD (DI)(AX*8), X2
	MOVSD X2, (DI)(AX*8)
	INCQ  AX
	JMP   gertail

gernext:
	ADDQ R9, DI
	INCQ R11
	JMP  gerrow

gerdone:
	VZEROUPPER
	RET

// func syr2AVX2(a []float64, stride int, x, y []float64)
// a[r·stride+c] −= x[r]·y[c] + y[r]·x[c] for r, c < len(x).
TEXT ·syr2AVX2(SB), NOSPLIT, $0-80
	MOVQ a_base+0(FP), DI
	MOVQ stride+24(FP), R9
	SHLQ $3, R9
	MOVQ x_base+32(FP), SI
	MOVQ x_len+40(FP), CX
	MOVQ y_base+56(FP), DX
	MOVQ CX, R12
	ANDQ $-4, R12            // columns done four at a time
	XORQ R11, R11

syr2row:
	CMPQ         R11, CX
	JGE          syr2done
	VBROADCASTSD (SI)(R11*8), Y0 // x[r]
	VBROADCASTSD (DX)(R11*8), Y1 // y[r]
	XORQ         AX, AX

syr2col:
	CMPQ    AX, R12
	JGE     syr2tail
	VMULPD  (DX)(AX*8), Y0, Y2   // x[r]·y[c]
	VMULPD  (SI)(AX*8), Y1, Y3   // y[r]·x[c]
	VADDPD  Y3, Y2, Y2
	VMOVUPD (DI)(AX*8), Y4
	VSUBPD  Y2, Y4, Y4
	VMOVUPD Y4, (DI)(AX*8)
	ADDQ    $4, AX
	JMP     syr2col

syr2tail:
	CMPQ  AX, CX
	JGE   syr2next
	MOVSD (DX)(AX*8), X2
	MULSD X0, X2
	MOVSD (SI)(AX*8), X3
	MULSD X1, X3
	ADDSD X3, X2
	MOVSD (DI)(AX*8), X4
	SUBSD X2, X4
	MOVSD X4, (DI)(AX*8)
	INCQ  AX
	JMP   syr2tail

syr2next:
	ADDQ R9, DI
	INCQ R11
	JMP  syr2row

syr2done:
	VZEROUPPER
	RET

// func gemm4x8AVX2(m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int)
// C[i:i+4, j:j+8] += A[i:i+4, :k]·B[:k, j:j+8] for i = 0, 4, … < m and
// j = 0, 8, … < n (m a multiple of 4, n of 8), each sum in l order. The
// 4 × 8 block of C stays in eight registers through the l loop.
TEXT ·gemm4x8AVX2(SB), NOSPLIT, $0-120
	MOVQ lda+48(FP), R9
	SHLQ $3, R9
	MOVQ ldb+80(FP), R10
	SHLQ $3, R10
	MOVQ ldc+112(FP), R8
	SHLQ $3, R8
	MOVQ k+16(FP), R13
	XORQ R11, R11             // i

gemmrows:
	CMPQ R11, m+0(FP)
	JGE  gemmdone
	XORQ R12, R12             // j

gemmcols:
	CMPQ    R12, n+8(FP)
	JGE     gemmnextrows
	MOVQ    R11, DI
	IMULQ   R8, DI
	ADDQ    c_base+88(FP), DI
	LEAQ    (DI)(R12*8), DI   // &C[i][j]
	LEAQ    (DI)(R8*2), BX    // &C[i+2][j]
	VMOVUPD (DI), Y0
	VMOVUPD 32(DI), Y1
	VMOVUPD (DI)(R8*1), Y2
	VMOVUPD 32(DI)(R8*1), Y3
	VMOVUPD (BX), Y4
	VMOVUPD 32(BX), Y5
	VMOVUPD (BX)(R8*1), Y6
	VMOVUPD 32(BX)(R8*1), Y7
	MOVQ    R11, SI
	IMULQ   R9, SI
	ADDQ    a_base+24(FP), SI // &A[i][0]
	LEAQ    (SI)(R9*1), BX    // &A[i+1][0]
	LEAQ    (SI)(R9*2), CX    // &A[i+2][0]
	LEAQ    (CX)(R9*1), DI    // &A[i+3][0]
	MOVQ    b_base+56(FP), DX
	LEAQ    (DX)(R12*8), DX   // &B[0][j]
	XORQ    AX, AX            // l

gemmk:
	CMPQ         AX, R13
	JGE          gemmstore
	VMOVUPD      (DX), Y8
	VMOVUPD      32(DX), Y9
	VBROADCASTSD (SI)(AX*8), Y10
	VMULPD       Y8, Y10, Y11
	VADDPD       Y11, Y0, Y0
	VMULPD       Y9, Y10, Y12
	VADDPD       Y12, Y1, Y1
	VBROADCASTSD (BX)(AX*8), Y10
	VMULPD       Y8, Y10, Y11
	VADDPD       Y11, Y2, Y2
	VMULPD       Y9, Y10, Y12
	VADDPD       Y12, Y3, Y3
	VBROADCASTSD (CX)(AX*8), Y10
	VMULPD       Y8, Y10, Y11
	VADDPD       Y11, Y4, Y4
	VMULPD       Y9, Y10, Y12
	VADDPD       Y12, Y5, Y5
	VBROADCASTSD (DI)(AX*8), Y10
	VMULPD       Y8, Y10, Y11
	VADDPD       Y11, Y6, Y6
	VMULPD       Y9, Y10, Y12
	VADDPD       Y12, Y7, Y7
	ADDQ         R10, DX
	INCQ         AX
	JMP          gemmk

gemmstore:
	MOVQ    R11, DI
	IMULQ   R8, DI
	ADDQ    c_base+88(FP), DI
	LEAQ    (DI)(R12*8), DI
	LEAQ    (DI)(R8*2), BX
	VMOVUPD Y0, (DI)
	VMOVUPD Y1, 32(DI)
	VMOVUPD Y2, (DI)(R8*1)
	VMOVUPD Y3, 32(DI)(R8*1)
	VMOVUPD Y4, (BX)
	VMOVUPD Y5, 32(BX)
	VMOVUPD Y6, (BX)(R8*1)
	VMOVUPD Y7, 32(BX)(R8*1)
	ADDQ    $8, R12
	JMP     gemmcols

gemmnextrows:
	ADDQ $4, R11
	JMP  gemmrows

gemmdone:
	VZEROUPPER
	RET
