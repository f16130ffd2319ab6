//go:build !purego

#include "textflag.h"

// func rotAVX2(x, y []float64, c, s float64)
// (x, y) ← (c·x − s·y, s·x + c·y); len(x) is a multiple of 4.
TEXT ·rotAVX2(SB), NOSPLIT, $0-64
	MOVQ         x_base+0(FP), SI
	MOVQ         x_len+8(FP), CX
	MOVQ         y_base+24(FP), DI
	VBROADCASTSD c+48(FP), Y0
	VBROADCASTSD s+56(FP), Y1
	XORQ         AX, AX

rotloop:
	CMPQ    AX, CX
	JGE     rotdone
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
// time (four independent sums), then 4, then 1.
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
	CMPQ  AX, CX
	JGE   gemvdone
	MOVSD (DI)(AX*8), X0
	LEAQ  (R8)(AX*8), R10
	XORQ  R11, R11

gemv1row:
	CMPQ  R11, BX
	JGE   gemv1store
	MOVSD (SI)(R11*8), X5
	MULSD (R10), X5
	ADDSD X5, X0
	ADDQ  R9, R10
	INCQ  R11
	JMP   gemv1row

gemv1store:
	MOVSD X0, (DI)(AX*8)
	INCQ  AX
	JMP   gemv1

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
	ANDQ  $-4, R12                   // columns done four at a time
	XORQ  R11, R11

gerrow:
	CMPQ         R11, BX
	JGE          gerdone
	VMULSD       (SI)(R11*8), X0, X1 // alpha·x[r]
	VBROADCASTSD X1, Y1
	XORQ         AX, AX

gercol:
	CMPQ    AX, R12
	JGE     gertail
	VMULPD  (DX)(AX*8), Y1, Y2
	VADDPD  (DI)(AX*8), Y2, Y2
	VMOVUPD Y2, (DI)(AX*8)
	ADDQ    $4, AX
	JMP     gercol

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
