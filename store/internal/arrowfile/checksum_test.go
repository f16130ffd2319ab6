package arrowfile

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestChecksumDefinition checks Checksum against the bytes its doc comment
// (and docs/state-format.md) defines, written out by hand, for columns
// built whole and for the same values sliced out of longer columns (a
// reader may get arrays with offsets).
func TestChecksumDefinition(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	// build makes each column with a leading row that slicing drops.
	build := func(lead bool) []arrow.Array {
		i32 := array.NewInt32Builder(mem)
		i64 := array.NewInt64Builder(mem)
		f32 := array.NewFloat32Builder(mem)
		f64 := array.NewFloat64Builder(mem)
		bo := array.NewBooleanBuilder(mem)
		st := array.NewStringBuilder(mem)
		fsl := array.NewFixedSizeListBuilder(mem, 2, arrow.PrimitiveTypes.Float64)
		li := array.NewListBuilder(mem, arrow.PrimitiveTypes.Int32)
		bs := []array.Builder{i32, i64, f32, f64, bo, st, fsl, li}
		if lead {
			i32.Append(9)
			i64.Append(9)
			f32.Append(9)
			f64.Append(9)
			bo.Append(true)
			st.Append("lead")
			fsl.Append(true)
			fsl.ValueBuilder().(*array.Float64Builder).AppendValues([]float64{9, 9}, nil)
			li.Append(true)
			li.ValueBuilder().(*array.Int32Builder).AppendValues([]int32{9, 9, 9}, nil)
		}
		i32.AppendValues([]int32{1, -2}, nil)
		i64.AppendValues([]int64{5, math.MinInt64}, nil)
		f32.AppendValues([]float32{1.5, float32(math.Inf(-1))}, nil)
		f64.AppendValues([]float64{0.5, math.Copysign(0, -1)}, nil)
		bo.AppendValues([]bool{true, false}, nil)
		st.AppendValues([]string{"", "Δt"}, nil)
		fsl.AppendValues([]bool{true, true})
		fsl.ValueBuilder().(*array.Float64Builder).AppendValues([]float64{1, 2, 3, math.NaN()}, nil)
		li.Append(true)
		li.ValueBuilder().(*array.Int32Builder).Append(7)
		li.Append(true)
		cols := make([]arrow.Array, len(bs))
		for i, b := range bs {
			cols[i] = b.NewArray()
			b.Release()
			if lead {
				whole := cols[i]
				cols[i] = array.NewSlice(whole, 1, 3)
				whole.Release()
			}
		}
		return cols
	}
	le := binary.LittleEndian
	var want []byte
	want = le.AppendUint32(le.AppendUint32(want, 1), uint32(0xFFFFFFFE))                    // int32 1, -2
	want = le.AppendUint64(le.AppendUint64(want, 5), 1<<63)                                 // int64 5, MinInt64
	want = le.AppendUint32(le.AppendUint32(want, 0x3FC00000), 0xFF800000)                   // float32 1.5, -Inf
	want = le.AppendUint64(le.AppendUint64(want, 0x3FE0000000000000), 1<<63)                // float64 0.5, -0
	want = append(want, 1, 0)                                                               // bool true, false
	want = append(le.AppendUint32(le.AppendUint32(want, 0), 3), "Δt"...)                    // "", "Δt"
	want = le.AppendUint64(le.AppendUint64(want, math.Float64bits(1)), math.Float64bits(2)) // [1, 2]
	want = le.AppendUint64(le.AppendUint64(want, math.Float64bits(3)), math.Float64bits(math.NaN()))
	want = le.AppendUint32(le.AppendUint32(le.AppendUint32(want, 1), 7), 0) // [7], []
	wantSum := crc32.Checksum(want, crc32.MakeTable(crc32.Castagnoli))
	for _, lead := range []bool{false, true} {
		cols := build(lead)
		got, err := Checksum(cols)
		ReleaseAll(cols)
		if err != nil {
			t.Fatal(err)
		}
		if got != wantSum {
			t.Errorf("sliced %v: checksum %s, want %s", lead, FormatChecksum(got), FormatChecksum(wantSum))
		}
	}
	// A type the definition does not cover is an error, not a guess.
	b := array.NewDate32Builder(mem)
	b.Append(1)
	d := b.NewArray()
	b.Release()
	defer d.Release()
	if _, err := Checksum([]arrow.Array{d}); err == nil || !strings.Contains(err.Error(), "type date32 has no checksum") {
		t.Errorf("date32 column: err = %v", err)
	}
}

// TestChecksumLargeStrings: strings are buffered in pieces; the pieces
// give the checksum of the whole.
func TestChecksumLargeStrings(t *testing.T) {
	b := array.NewStringBuilder(memory.DefaultAllocator)
	var want []byte
	for i := range 3000 {
		s := strings.Repeat("x", i%7)
		b.Append(s)
		want = append(binary.LittleEndian.AppendUint32(want, uint32(len(s))), s...)
	}
	a := b.NewArray()
	b.Release()
	defer a.Release()
	got, err := Checksum([]arrow.Array{a})
	if err != nil {
		t.Fatal(err)
	}
	if w := crc32.Checksum(want, castagnoli); got != w {
		t.Errorf("checksum %s, want %s", FormatChecksum(got), FormatChecksum(w))
	}
}
